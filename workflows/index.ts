// The workflows a worker runs (bundled once per worker start).
export { selfCheck } from './selfCheck.js';
export { convertImage } from './convertImage.js';
export { windowsImage } from './windowsImage.js';
export { vmImage } from './vmImage.js';
export { goldenImage } from './goldenImage.js';
