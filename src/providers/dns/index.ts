export { createDnsProvider, type DnsAttrs, type DnsObserved } from './dns.js';
