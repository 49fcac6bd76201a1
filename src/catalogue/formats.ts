/**
 * String formats the schemas in spec/ name with `"format": "..."`: each is a check and
 * a sentence saying what is accepted, which load.ts puts in the error. Every check is
 * linear in its input (lengths are bounded first; the regexes that could backtrack run
 * on RE2), so a hostile manifest cannot make validation slow.
 */
import { isIP } from 'node:net';
import { RE2JS } from 're2js';

export interface StringFormat {
  readonly validate: (value: string) => boolean;
  /** What is accepted, for the error message. */
  readonly accepts: string;
}

const hasNul = (s: string): boolean => s.includes('\0');
const DOTDOT = /(^|\/)\.\.(\/|$)/;

const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
function isHostname(s: string): boolean {
  const name = s.endsWith('.') ? s.slice(0, -1) : s;
  return name.length > 0 && name.length <= 253 && name.split('.').every((l) => LABEL.test(l));
}

function isPort(s: string, allowZero = false): boolean {
  if (!/^[0-9]{1,5}$/.test(s)) return false;
  const n = Number(s);
  return n <= 65535 && (allowZero || n >= 1);
}

function isPortOrRange(s: string): boolean {
  const [a, b, ...rest] = s.split('-');
  if (rest.length > 0) return false;
  if (b === undefined) return isPort(a!);
  return isPort(a!) && isPort(b) && Number(a) <= Number(b);
}

/** Docker's "[hostIp:][hostPort:]containerPort[/protocol]", ports 1-65535 or ranges a-b. */
function isPortSpec(s: string): boolean {
  if (s.length > 80) return false;
  let rest = s;
  const proto = /\/(tcp|udp|sctp)$/.exec(rest);
  if (proto) rest = rest.slice(0, -proto[0].length);
  let ip: string | undefined;
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']:');
    if (end < 0) return false;
    ip = rest.slice(1, end);
    if (isIP(ip) !== 6) return false;
    rest = rest.slice(end + 2);
  }
  const parts = rest.split(':');
  if (ip === undefined && parts.length === 3) {
    ip = parts.shift()!;
    if (isIP(ip) !== 4) return false;
  }
  if (parts.length > 2) return false;
  const container = parts.pop()!;
  if (!isPortOrRange(container)) return false;
  const host = parts.pop();
  return host === undefined || host === '' || isPortOrRange(host);
}

function isSysctlKey(s: string): boolean {
  if (s.length > 255) return false;
  if (s.includes('/')) return /^[a-z][a-z0-9_]*(\/[A-Za-z0-9_.-]+)+$/.test(s) && !s.split('/').some((c) => c === '.' || c === '..');
  return /^[a-z][a-z0-9_]*(\.[A-Za-z0-9_-]+)+$/.test(s);
}

function isCidr(s: string): boolean {
  const slash = s.lastIndexOf('/');
  if (slash < 0 || !/^[0-9]{1,3}$/.test(s.slice(slash + 1))) return false;
  const family = isIP(s.slice(0, slash));
  const bits = Number(s.slice(slash + 1));
  return (family === 4 && bits <= 32) || (family === 6 && bits <= 128);
}

// distribution/reference's grammar (the one the Docker engine parses), on RE2.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const DOMAIN_PART = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_PART}(?:\\.${DOMAIN_PART})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
const REFERENCE = RE2JS.compile(`^(?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`);
const COMPONENT_RE = RE2JS.compile(`^${COMPONENT}$`);
function isImageReference(s: string): boolean {
  if (s.length > 512) return false;
  if (!REFERENCE.test(s)) return false;
  const name = s.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
  // As the engine normalises: a first component without "." or ":" (and not localhost) is
  // a path component, not a registry, so it must be lowercase too.
  const slash = name.indexOf('/');
  const first = slash < 0 ? name : name.slice(0, slash);
  if (slash >= 0 && !/[.:]/.test(first) && first !== 'localhost' && !COMPONENT_RE.test(first)) return false;
  return name.length <= 255;
}

export const FORMATS: Readonly<Record<string, StringFormat>> = {
  'absolute-path': {
    validate: (s) => s.startsWith('/') && !hasNul(s) && s.length <= 4096 && !DOTDOT.test(s),
    accepts: 'an absolute path starting with "/", with no ".." component (paths are joined under --root)',
  },
  'absolute-path-glob': {
    validate: (s) => s.startsWith('/') && !hasNul(s) && s.length <= 4096 && !DOTDOT.test(s),
    accepts: 'an absolute path or glob starting with "/", with no ".." component',
  },
  'template-path': {
    validate: (s) => s.length > 0 && s.length <= 4096 && !s.startsWith('/') && !hasNul(s),
    accepts: 'a path relative to the manifest file, inside the manifest tree (no absolute paths)',
  },
  ip: { validate: (s) => isIP(s) !== 0, accepts: 'an IPv4 or IPv6 address, e.g. 10.0.0.1 or fd00::1' },
  'ip-zone': {
    validate: (s) => { const [a, zone, ...rest] = s.split('%'); return rest.length === 0 && isIP(a!) !== 0 && (zone === undefined || /^[A-Za-z0-9_.-]{1,15}$/.test(zone)); },
    accepts: 'an IPv4 or IPv6 address (an IPv6 one may carry a %zone), e.g. 10.0.0.1 or fe80::1%eth0',
  },
  cidr: { validate: isCidr, accepts: 'an address and prefix length, e.g. 172.28.0.0/16 or fd00::/64' },
  hostname: { validate: isHostname, accepts: 'a DNS name: labels of letters, digits, "-" and "_" (at most 63 each, 253 in all) joined by "."' },
  host: { validate: (s) => isIP(s) !== 0 || isHostname(s), accepts: 'a DNS name or an IP address' },
  port: { validate: (s) => isPort(s), accepts: 'a port number 1-65535' },
  'port-spec': { validate: isPortSpec, accepts: '"[hostIp:][hostPort:]containerPort[/tcp|udp|sctp]" with ports 1-65535 (or ranges a-b), e.g. 127.0.0.1:8080:80/tcp' },
  'image-reference': {
    validate: isImageReference,
    accepts: 'a Docker image reference: [registry[:port]/]path[:tag][@sha256:digest], path components lowercase, e.g. 127.0.0.1:5000/busybox:1',
  },
  'sysctl-key': {
    validate: isSysctlKey,
    accepts: 'a kernel parameter, dotted (net.core.somaxconn) or as a path below /proc/sys (net/ipv4/conf/eth0.100/rp_filter): letters, digits, "_", "-", no empty, "." or ".." component',
  },
  'file-mode': { validate: (s) => /^0?[0-7]{3,4}$/.test(s) && parseInt(s, 8) <= 0o7777, accepts: 'an octal mode string 000-7777, e.g. "0644" (quote it in YAML)' },
};

/** The sentence for `format`, or a generic one. */
export function formatAccepts(format: string): string {
  return FORMATS[format]?.accepts ?? `a string of format ${format}`;
}
