export { createSysctlProvider, type SysctlAttrs, type SysctlObserved, type SysctlProviderOptions } from './sysctl.js';
