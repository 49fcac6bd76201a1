export { createLogrotateProvider, type RotateAttrs } from './rotate.js';
export { createForwardProvider, type ForwardAttrs } from './forward.js';
