/** The string formats the schemas use: what each accepts and refuses. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RE2JS } from 're2js';
import { FORMATS } from './formats.js';

// The image-reference grammar as distribution/reference writes it, on RE2: the hand-written check must agree.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const DOMAIN_PART = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_PART}(?:\\.${DOMAIN_PART})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
const REFERENCE = RE2JS.compile(
  `^(?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`,
);
const COMPONENT_RE = RE2JS.compile(`^${COMPONENT}$`);
function referenceOnRe2(s: string): boolean {
  if (s.length > 512 || !REFERENCE.test(s)) return false;
  const name = s.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
  const slash = name.indexOf('/');
  const first = slash < 0 ? name : name.slice(0, slash);
  if (slash >= 0 && !/[.:]/.test(first) && first !== 'localhost' && !COMPONENT_RE.test(first)) return false;
  return name.length <= 255;
}

const CASES: [format: string, value: string, ok: boolean][] = [
  ['absolute-path', '/etc/motd', true],
  ['absolute-path', '/srv/a..b/c', true],
  ['absolute-path', '/srv/../x', false],
  ['absolute-path', '/..', false],
  ['absolute-path', 'etc/x', false],
  ['absolute-path', '/a\0b', false],
  ['template-path', 'templates/a.hbs', true],
  ['template-path', '../shared/a.hbs', true],
  ['template-path', '/etc/shadow', false],
  ['ip', '10.0.0.1', true],
  ['ip', 'fd00::1', true],
  ['ip', '1.2.3.999', false],
  ['ip', 'localhost', false],
  ['ip-zone', 'fe80::1%eth0', true],
  ['ip-zone', '10.0.0.1%eth0', true],
  ['ip-zone', 'fe80::1%a%b', false],
  ['cidr', '172.28.0.0/16', true],
  ['cidr', 'fd00::/64', true],
  ['cidr', '10.0.0.0/33', false],
  ['cidr', '10.0.0.0', false],
  ['cidr', 'fd00::/129', false],
  ['hostname', 'ntp1.example.net', true],
  ['hostname', 'example.net.', true],
  ['hostname', 'a..b', false],
  ['hostname', '-db', false],
  ['hostname', `${'a'.repeat(64)}.net`, false],
  ['host', '10.0.0.1', true],
  ['host', 'logs.example.net', true],
  ['host', 'bad host', false],
  ['port-spec', '80', true],
  ['port-spec', '8080:80', true],
  ['port-spec', '127.0.0.1:8080:80/tcp', true],
  ['port-spec', '127.0.0.1::80', true],
  ['port-spec', '[::1]:8080:80', true],
  ['port-spec', '8000-8010:80-90/udp', true],
  ['port-spec', '70000:80', false],
  ['port-spec', '8080:0', false],
  ['port-spec', '80/icmp', false],
  ['port-spec', '999.0.0.1:80:80', false],
  ['port-spec', '9-1:80', false],
  ['image-reference', 'busybox', true],
  ['image-reference', 'local/busybox:1', true],
  ['image-reference', '127.0.0.1:5000/busybox:1', true],
  ['image-reference', `busybox@sha256:${'a'.repeat(64)}`, true],
  ['image-reference', 'localhost/a/b:latest', true],
  ['image-reference', 'Registry.example.com/app:1', true],
  ['image-reference', 'Bad:Image', false],
  ['image-reference', 'UPPER/case', false],
  ['image-reference', 'busybox:', false],
  ['image-reference', 'busybox@sha256:abc', false],
  ['image-reference', '--privileged', false],
  ['image-reference', 'a b', false],
  ['sysctl-key', 'net.core.somaxconn', true],
  ['sysctl-key', 'net/ipv4/conf/eth0.100/rp_filter', true],
  ['sysctl-key', 'net..core', false],
  ['sysctl-key', 'net/ipv4/../x', false],
  ['sysctl-key', 'kernel', false],
  ['sysctl-key', 'Net.core', false],
  ['file-mode', '0644', true],
  ['file-mode', '644', true],
  ['file-mode', '7777', true],
  ['file-mode', '0998', false],
  ['file-mode', '17777', false],
  ['file-mode', '0o644', false],
];

describe('formats', () => {
  it.each(CASES)('%s %j -> %s', (format, value, ok) => {
    expect(FORMATS[format]!.validate(value)).toBe(ok);
  });
  it('image-reference agrees with the grammar run on RE2', () => {
    const hexes = 'abcdef0123456789';
    const piece = fc.oneof(
      fc.constantFrom(
        'a',
        'b',
        'z',
        '0',
        '9',
        'A',
        'Q',
        '.',
        '_',
        '__',
        '-',
        '--',
        '/',
        ':',
        '@',
        '[',
        ']',
        '::1',
        'sha256',
        'localhost',
        '5000',
        '+',
        ' ',
        'é',
      ),
      fc.constant(hexes.repeat(2)),
      fc.constant(hexes.repeat(4)),
      fc.string({ maxLength: 3 }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 14 }), (parts) => {
        const s = parts.join('');
        expect(FORMATS['image-reference']!.validate(s)).toBe(referenceOnRe2(s));
      }),
      { numRuns: 20_000 },
    );
    for (const s of [
      '[::1]:5000/a',
      '[::1]/a:b',
      '[]/a',
      '[::1]x/a',
      'a.b-c.d:1/e/f_g__h--i.j:T_1.2-3',
      `a@sha256:${'F'.repeat(32)}`,
      'a@s+b.c_d-e:' + '0'.repeat(31),
      'A.b/c',
      'Ab/c',
      'a./b',
      '-a/b',
      'a-/b',
      'a:/b',
      'a:1:2/b',
      `${'a'.repeat(200)}/${'b'.repeat(60)}`,
      `a:${'t'.repeat(128)}`,
      `a:${'t'.repeat(129)}`,
      'a___b',
      'a_.b',
      'a/',
      '/a',
    ]) {
      expect(FORMATS['image-reference']!.validate(s), s).toBe(referenceOnRe2(s));
    }
  });
  it('every check is fast on a long hostile string', () => {
    for (const f of Object.values(FORMATS)) f.validate(`${'a'.repeat(50_000)}!`);
  });
});
