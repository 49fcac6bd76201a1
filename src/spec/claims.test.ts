import { describe, expect, it } from 'vitest';
import { claimsOf, readClaims } from './claims.js';
import { createAjv } from './schemas.js';

const schema = (claim: unknown) => ({
  type: 'object',
  properties: { kind: { const: 'x' }, name: { type: 'string' }, path: { type: 'string' } },
  'x-claim': claim,
});
const resource = (name: string, attrs: Record<string, unknown> = {}) => ({ kind: 'x', name, id: `x[${name}]`, attrs, sensitive: [] });

describe('x-claim', () => {
  it.each([
    ['what is not a string', [{ what: 1, from: ['/name'] }]],
    ['a pointer that is not one', [{ what: 'path', from: ['name'] }]],
    ['an unknown field', [{ what: 'path', from: ['/name'], owner: true }]],
    ['not a list', { what: 'path', from: ['/name'] }],
  ])('the meta-schema refuses %s', (_, claim) => {
    expect(() => createAjv().compile(schema(claim))).toThrow(/keyword "x-claim" value is invalid/);
  });

  it.each([
    ['an attribute the kind does not have', [{ what: 'path', from: ['/configPath'] }], /x-claim names "configPath", which is not a property of x/],
    ['a when on an unknown attribute', [{ what: 'path', default: '/etc/x', when: ['servers'] }], /x-claim names "servers"/],
    ['neither from nor default', [{ what: 'path', when: ['path'] }], /needs from or default/],
  ])('reading the schema refuses %s', (_, claim, message) => {
    expect(() => readClaims('x', schema(claim))).toThrow(message);
  });

  it.each([
    ['path', '/srv//app/', 'path', '/srv/app'],
    ['path', 'relative/path', 'path', undefined],
    ['container name', '/web', 'container name', 'web'],
    ['sysctl', 'net.ipv4.ip_forward', 'sysctl', 'net/ipv4/ip_forward'],
    ['user', 'alice', 'user', 'alice'],
  ])('%s %s is claimed in its normal form', (what, value, expectedWhat, expected) => {
    const claims = claimsOf(readClaims('x', schema([{ what, from: ['/path', '/name'] }])), resource('n', { path: value }));
    expect(claims).toEqual(expected === undefined ? [] : [{ what: expectedWhat, value: expected, pointer: '/path' }]);
  });

  it('falls back along from, then to the default, and claims only when a `when` attribute is declared', () => {
    const specs = readClaims('x', schema([{ what: 'path', from: ['/path'], default: '/etc/default' }]));
    expect(claimsOf(specs, resource('n'))).toEqual([{ what: 'path', value: '/etc/default', pointer: '/name' }]);
    expect(claimsOf(specs, resource('n', { path: '/etc/p' }))).toEqual([{ what: 'path', value: '/etc/p', pointer: '/path' }]);
    expect(claimsOf(readClaims('x', schema([{ what: 'path', default: '/etc/default', when: ['path'] }])), resource('n'))).toEqual([]);
  });
});
