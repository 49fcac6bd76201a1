export { createNtpProvider, type NtpAttrs, type NtpObserved } from './ntp.js';
