/**
 * String formats the schemas in spec/ name with `"format": "..."`: each is a check and
 * a sentence saying what is accepted, which load.ts puts in the error. Every check is
 * linear in its input (lengths are bounded first; the regexes that could backtrack run
 * on RE2), so a hostile manifest cannot make validation slow.
 */
import { isIP } from 'node:net';

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

// distribution/reference's grammar (the one the Docker engine parses):
//   reference := [domain "/"] component ("/" component)* [":" tag] ["@" digest]
// checked by hand in one pass (no regex that could backtrack, and no RE2 compile at start:
// compiling the grammar on re2js cost about 20 ms of every run). formats.test.ts holds it
// equal to the grammar run on RE2.
const lowerAlnum = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39);
const alnum = (c: number): boolean => lowerAlnum(c) || (c >= 0x41 && c <= 0x5a);
const letter = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
const digit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const hex = (c: number): boolean => digit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

/** component := [a-z0-9]+ (("." | "_" | "__" | "-"+) [a-z0-9]+)* */
function isComponent(s: string, from: number, to: number): boolean {
  let i = from;
  if (i >= to || !lowerAlnum(s.charCodeAt(i))) return false;
  for (;;) {
    while (i < to && lowerAlnum(s.charCodeAt(i))) i++;
    if (i === to) return true;
    const c = s.charCodeAt(i);
    if (c === 0x2e)
      i++; // .
    else if (c === 0x5f) {
      i++;
      if (s.charCodeAt(i) === 0x5f && i < to) i++;
    } // _ or __
    else if (c === 0x2d) {
      while (i < to && s.charCodeAt(i) === 0x2d) i++;
    } // -+
    else return false;
    if (i >= to || !lowerAlnum(s.charCodeAt(i))) return false;
  }
}

/** path := component ("/" component)* */
function isPath(s: string, from: number, to: number): boolean {
  for (let i = from; ;) {
    const slash = s.indexOf('/', i);
    const end = slash < 0 || slash >= to ? to : slash;
    if (!isComponent(s, i, end)) return false;
    if (end === to) return true;
    i = end + 1;
  }
}

/** domain := (part ("." part)* | "[" [0-9a-fA-F:]+ "]") [":" [0-9]+], part := alnum ([alnum-]* alnum)? */
function isDomain(s: string, from: number, to: number): boolean {
  let host = to;
  if (s.charCodeAt(from) === 0x5b) {
    // [ipv6]
    const close = s.indexOf(']', from);
    if (close < 0 || close >= to || close === from + 1) return false;
    for (let i = from + 1; i < close; i++) {
      const c = s.charCodeAt(i);
      if (!hex(c) && c !== 0x3a) return false;
    }
    host = close + 1;
    if (host < to && s.charCodeAt(host) !== 0x3a) return false;
  } else {
    const colon = s.indexOf(':', from);
    if (colon >= 0 && colon < to) host = colon;
    let partStart = from;
    for (let i = from; i <= host; i++) {
      if (i < host && s.charCodeAt(i) !== 0x2e) {
        const c = s.charCodeAt(i);
        if (!alnum(c) && c !== 0x2d) return false;
        continue;
      }
      // a part ends at i: non-empty, starting and ending with a letter or digit
      if (i === partStart || !alnum(s.charCodeAt(partStart)) || !alnum(s.charCodeAt(i - 1))) return false;
      partStart = i + 1;
    }
  }
  if (host === to) return true;
  if (host + 1 >= to) return false; // ":" without a port
  for (let i = host + 1; i < to; i++) if (!digit(s.charCodeAt(i))) return false;
  return true;
}

/** tag := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127} */
function isTag(s: string, from: number, to: number): boolean {
  if (to <= from || to - from > 128) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!(alnum(c) || c === 0x5f || (i > from && (c === 0x2e || c === 0x2d)))) return false;
  }
  return true;
}

/** digest := algorithm ":" [0-9a-fA-F]{32,}, algorithm := [A-Za-z][A-Za-z0-9]* ([-_+.] [A-Za-z][A-Za-z0-9]*)* */
function isDigest(s: string, from: number): boolean {
  const colon = s.indexOf(':', from);
  if (colon < 0 || s.length - colon - 1 < 32) return false;
  for (let i = colon + 1; i < s.length; i++) if (!hex(s.charCodeAt(i))) return false;
  let atStart = true;
  for (let i = from; i < colon; i++) {
    const c = s.charCodeAt(i);
    if (atStart) {
      if (!letter(c)) return false;
      atStart = false;
      continue;
    }
    if (c === 0x2d || c === 0x5f || c === 0x2b || c === 0x2e) atStart = true;
    else if (!alnum(c)) return false;
  }
  return !atStart;
}

function isImageReference(s: string): boolean {
  if (s.length > 512) return false;
  const at = s.indexOf('@');
  if (at >= 0 && !isDigest(s, at + 1)) return false;
  const end = at < 0 ? s.length : at;
  // The tag is after a ":" that follows the last "/" (a path has no ":"; a domain is followed by "/").
  const lastSlash = s.lastIndexOf('/', end - 1);
  const colon = s.indexOf(':', lastSlash + 1);
  const nameEnd = colon >= 0 && colon < end ? colon : end;
  if (nameEnd < end && !isTag(s, nameEnd + 1, end)) return false;
  const firstSlash = s.indexOf('/');
  const hasDomain = firstSlash >= 0 && firstSlash < nameEnd;
  if (!isPath(s, 0, nameEnd) && !(hasDomain && isDomain(s, 0, firstSlash) && isPath(s, firstSlash + 1, nameEnd))) return false;
  // As the engine normalises: a first component without "." or ":" (and not localhost) is
  // a path component, not a registry, so it must be lowercase too.
  const first = hasDomain ? s.slice(0, firstSlash) : s.slice(0, nameEnd);
  if (hasDomain && !/[.:]/.test(first) && first !== 'localhost' && !isComponent(first, 0, first.length)) return false;
  return nameEnd <= 255;
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
    validate: (s) => {
      const [a, zone, ...rest] = s.split('%');
      return rest.length === 0 && isIP(a!) !== 0 && (zone === undefined || /^[A-Za-z0-9_.-]{1,15}$/.test(zone));
    },
    accepts: 'an IPv4 or IPv6 address (an IPv6 one may carry a %zone), e.g. 10.0.0.1 or fe80::1%eth0',
  },
  cidr: { validate: isCidr, accepts: 'an address and prefix length, e.g. 172.28.0.0/16 or fd00::/64' },
  hostname: { validate: isHostname, accepts: 'a DNS name: labels of letters, digits, "-" and "_" (at most 63 each, 253 in all) joined by "."' },
  host: { validate: (s) => isIP(s) !== 0 || isHostname(s), accepts: 'a DNS name or an IP address' },
  port: { validate: (s) => isPort(s), accepts: 'a port number 1-65535' },
  'port-range': {
    validate: (s) => {
      const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s);
      if (!m) return false;
      const a = Number(m[1]),
        b = Number(m[2] ?? m[1]);
      return a >= 1 && b <= 65535 && a <= b;
    },
    accepts: 'a port 1-65535 or a range "a-b" with a <= b, e.g. 5432 or "6000-6010"',
  },
  'port-spec': {
    validate: isPortSpec,
    accepts: '"[hostIp:][hostPort:]containerPort[/tcp|udp|sctp]" with ports 1-65535 (or ranges a-b), e.g. 127.0.0.1:8080:80/tcp',
  },
  'image-reference': {
    validate: isImageReference,
    accepts: 'a Docker image reference: [registry[:port]/]path[:tag][@sha256:digest], path components lowercase, e.g. 127.0.0.1:5000/busybox:1',
  },
  'sysctl-key': {
    validate: isSysctlKey,
    accepts:
      'a kernel parameter, dotted (net.core.somaxconn) or as a path below /proc/sys (net/ipv4/conf/eth0.100/rp_filter): letters, digits, "_", "-", no empty, "." or ".." component',
  },
  'drop-in-name': {
    validate: (s) => s.length <= 200 && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s),
    accepts: 'a file name for a drop-in directory: letters, digits, ".", "_" and "-", starting with a letter or digit (no "/", no "..", never hidden)',
  },
  'file-mode': {
    validate: (s) => /^0?[0-7]{3,4}$/.test(s) && parseInt(s, 8) <= 0o7777,
    accepts: 'an octal mode string 000-7777, e.g. "0644" (quote it in YAML)',
  },
  schedule: {
    validate: isSchedule,
    accepts:
      'a duration (30m, 24h, 7d) or a 5-field cron expression in UTC: minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7, each *, N, N-M, a list of them, with an optional /STEP, e.g. "0 3 * * *"',
  },
};

const CRON_RANGES: readonly (readonly [number, number])[] = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 7],
];

/** backup.volume's `every`: a duration, or five cron fields each within its range. */
function isSchedule(s: string): boolean {
  if (s.length > 200) return false;
  if (/^[0-9]{1,9}[smhd]$/.test(s)) return Number(s.slice(0, -1)) > 0;
  const fields = s.trim().split(/\s+/);
  return (
    fields.length === 5 &&
    fields.every((f, i) =>
      f.split(',').every((part) => {
        const m = /^(\*|([0-9]{1,2})(?:-([0-9]{1,2}))?)(?:\/([0-9]{1,2}))?$/.exec(part);
        if (!m) return false;
        const [lo, hi] = CRON_RANGES[i]!;
        const from = m[2] !== undefined ? Number(m[2]) : lo;
        const to = m[3] !== undefined ? Number(m[3]) : m[2] !== undefined ? from : hi;
        return from >= lo && to <= hi && from <= to && (m[4] === undefined || Number(m[4]) >= 1);
      }),
    )
  );
}

/** The sentence for `format`, or a generic one. */
export function formatAccepts(format: string): string {
  return FORMATS[format]?.accepts ?? `a string of format ${format}`;
}
