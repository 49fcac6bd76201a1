/** The string formats the schemas use: what each accepts and refuses. */
import { describe, expect, it } from 'vitest';
import { FORMATS } from './formats.js';

const CASES: [format: string, value: string, ok: boolean][] = [
  ['absolute-path', '/etc/motd', true], ['absolute-path', '/srv/a..b/c', true], ['absolute-path', '/srv/../x', false],
  ['absolute-path', '/..', false], ['absolute-path', 'etc/x', false], ['absolute-path', '/a\0b', false],
  ['template-path', 'templates/a.hbs', true], ['template-path', '../shared/a.hbs', true], ['template-path', '/etc/shadow', false],
  ['ip', '10.0.0.1', true], ['ip', 'fd00::1', true], ['ip', '1.2.3.999', false], ['ip', 'localhost', false],
  ['ip-zone', 'fe80::1%eth0', true], ['ip-zone', '10.0.0.1%eth0', true], ['ip-zone', 'fe80::1%a%b', false],
  ['cidr', '172.28.0.0/16', true], ['cidr', 'fd00::/64', true], ['cidr', '10.0.0.0/33', false], ['cidr', '10.0.0.0', false], ['cidr', 'fd00::/129', false],
  ['hostname', 'ntp1.example.net', true], ['hostname', 'example.net.', true], ['hostname', 'a..b', false], ['hostname', '-db', false], ['hostname', `${'a'.repeat(64)}.net`, false],
  ['host', '10.0.0.1', true], ['host', 'logs.example.net', true], ['host', 'bad host', false],
  ['port-spec', '80', true], ['port-spec', '8080:80', true], ['port-spec', '127.0.0.1:8080:80/tcp', true], ['port-spec', '127.0.0.1::80', true],
  ['port-spec', '[::1]:8080:80', true], ['port-spec', '8000-8010:80-90/udp', true], ['port-spec', '70000:80', false], ['port-spec', '8080:0', false],
  ['port-spec', '80/icmp', false], ['port-spec', '999.0.0.1:80:80', false], ['port-spec', '9-1:80', false],
  ['image-reference', 'busybox', true], ['image-reference', 'local/busybox:1', true], ['image-reference', '127.0.0.1:5000/busybox:1', true],
  ['image-reference', `busybox@sha256:${'a'.repeat(64)}`, true], ['image-reference', 'localhost/a/b:latest', true], ['image-reference', 'Registry.example.com/app:1', true],
  ['image-reference', 'Bad:Image', false], ['image-reference', 'UPPER/case', false], ['image-reference', 'busybox:', false],
  ['image-reference', 'busybox@sha256:abc', false], ['image-reference', '--privileged', false], ['image-reference', 'a b', false],
  ['sysctl-key', 'net.core.somaxconn', true], ['sysctl-key', 'net/ipv4/conf/eth0.100/rp_filter', true], ['sysctl-key', 'net..core', false],
  ['sysctl-key', 'net/ipv4/../x', false], ['sysctl-key', 'kernel', false], ['sysctl-key', 'Net.core', false],
  ['file-mode', '0644', true], ['file-mode', '644', true], ['file-mode', '7777', true], ['file-mode', '0998', false], ['file-mode', '17777', false], ['file-mode', '0o644', false],
];

describe('formats', () => {
  it.each(CASES)('%s %j -> %s', (format, value, ok) => {
    expect(FORMATS[format]!.validate(value)).toBe(ok);
  });
  it('every check is fast on a long hostile string', () => {
    for (const f of Object.values(FORMATS)) f.validate(`${'a'.repeat(50_000)}!`);
  });
});
