// Every activity the worker registers. Workflows import this module as types only.
export * from './host.js';
export * from './image.js';
