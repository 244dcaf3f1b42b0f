// Every activity the worker registers. Workflows import this module as types only.
export * from './guest.js';
export * from './host.js';
export * from './image.js';
export * from './media.js';
export * from './xen.js';
