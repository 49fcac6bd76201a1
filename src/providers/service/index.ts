export { createServiceProvider, type ServiceAttrs, type ServiceObserved } from './service.js';
