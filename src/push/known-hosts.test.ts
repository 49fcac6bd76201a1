import { describe, expect, it } from 'vitest';
import { checkHostKey, fingerprint, hostKeyName, hostMatches, keyTypeOf, knownKeyTypes, parseKnownHosts } from './known-hosts.js';

// Real keys made by ssh-keygen; the fingerprint is what `ssh-keygen -lf` printed for KEY_A,
// the hashed line what `ssh-keygen -H` wrote for [127.0.0.1]:2222.
const KEY_A = 'AAAAC3NzaC1lZDI1NTE5AAAAIFAEJdw954tARKdAA8scKcQv/WKOwLqUsIIFXLmu6KfB';
const KEY_B = 'AAAAC3NzaC1lZDI1NTE5AAAAIIElhEJSeyhW9LWHnk8CxFARo3BjHXPcHTYstPI4AFji';
const FP_A = 'SHA256:wIfERoNPBq2GDhPTjRSQiJe3n/3IBvzzVwj2+iccuI4';
const HASHED = '|1|e5ZMxpPro5vpbttNIZQSDmX6S4s=|c4RfiIVxVuk02oIO/StglYUYH0M=';
const blob = (k: string): Buffer => Buffer.from(k, 'base64');

describe('known_hosts', () => {
  it('fingerprints and key types read as ssh-keygen prints them', () => {
    expect(fingerprint(blob(KEY_A))).toBe(FP_A);
    expect(keyTypeOf(blob(KEY_A))).toBe('ssh-ed25519');
  });

  it.each([
    ['plain name', 'example.org', 'example.org', true],
    ['name list', 'a.example,example.org,10.0.0.1', 'example.org', true],
    ['other name', 'example.org', 'example.net', false],
    ['case-insensitive', 'EXAMPLE.org', 'example.ORG', true],
    ['bracketed port', '[127.0.0.1]:2222', '[127.0.0.1]:2222', true],
    ['port differs', '[127.0.0.1]:2222', '[127.0.0.1]:2223', false],
    ['port 22 is written bare', '127.0.0.1', hostKeyName('127.0.0.1', 22), true],
    ['wildcard', '*.example.org', 'web.example.org', true],
    ['question mark', 'web-?.example.org', 'web-1.example.org', true],
    ['negation wins', '*.example.org,!db.example.org', 'db.example.org', false],
    ['hashed, matching', HASHED, '[127.0.0.1]:2222', true],
    ['hashed, other port', HASHED, '[127.0.0.1]:2223', false],
    ['hashed, malformed', '|1|abc', '[127.0.0.1]:2222', false],
  ])('%s', (_what, field, name, expected) => {
    expect(hostMatches(field, name)).toBe(expected);
  });

  const file = [
    '# comment',
    '',
    `${HASHED} ssh-ed25519 ${KEY_A}`,
    `[10.0.0.5]:2200 ssh-ed25519 ${KEY_A} old-key`,
    `@cert-authority *.example.org ssh-ed25519 ${KEY_B}`,
    `@revoked * ssh-ed25519 ${KEY_B.replace('A', 'B')}`,
    'broken-line',
  ].join('\n');
  const entries = parseKnownHosts(file);

  it('parses entries with markers and line numbers; skips comments and broken lines', () => {
    expect(entries.map((e) => [e.marker ?? '', e.line])).toEqual([
      ['', 3],
      ['', 4],
      ['@cert-authority', 5],
      ['@revoked', 6],
    ]);
  });

  it.each([
    ['listed key', '127.0.0.1', 2222, KEY_A, { status: 'known' }],
    ['not listed', '127.0.0.1', 2299, KEY_A, { status: 'unknown' }],
    ['listed with another key', '10.0.0.5', 2200, KEY_B, { status: 'changed', known: [{ type: 'ssh-ed25519', fingerprint: FP_A, line: 4 }] }],
    ['cert-authority lines are not host keys', 'web.example.org', 22, KEY_B, { status: 'unknown' }],
    ['revoked anywhere', '127.0.0.1', 2222, KEY_B.replace('A', 'B'), { status: 'revoked', line: 6 }],
  ])('%s', (_what, host, port, key, verdict) => {
    expect(checkHostKey(entries, host, port, blob(key))).toEqual(verdict);
  });

  it('lists the key types known for a host (asked for first in the handshake)', () => {
    expect(knownKeyTypes(entries, '10.0.0.5', 2200)).toEqual(['ssh-ed25519']);
    expect(knownKeyTypes(entries, '10.0.0.6', 22)).toEqual([]);
  });
});
