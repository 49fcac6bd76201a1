import { describe, expect, it } from 'vitest';
import type { FastifyRequest } from 'fastify';
import { checkBody, isValidReport, jsonDepthExceeds, MAX_JSON_DEPTH, unstorable } from './door.js';

const nested = (n: number): string => '['.repeat(n) + ']'.repeat(n);

describe('depth, before parsing', () => {
  it.each([
    ['flat', '{"a": 1}', false],
    ['at the limit', nested(MAX_JSON_DEPTH), false],
    ['one past it', nested(MAX_JSON_DEPTH + 1), true],
    ['100,000 levels', nested(100_000), true],
    ['brackets inside strings do not count', JSON.stringify({ s: '['.repeat(500) }), false],
    ['an escaped quote does not end a string', JSON.stringify({ s: '\\"' + '{'.repeat(500) }), false],
    ['objects and arrays mixed', '{"a":'.repeat(60) + '['.repeat(60) + '1' + ']'.repeat(60) + '}'.repeat(60), true],
  ])('%s', (_n, text, deep) => expect(jsonDepthExceeds(text)).toBe(deep));
});

describe('strings the store cannot hold', () => {
  it.each([
    ['plain text', { facts: { hostname: 'web-01', note: 'ok ✓ 😀' } }, undefined],
    ['NUL in a value', { facts: { hostname: 'a\u0000b' } }, /\/facts\/hostname holds a NUL character/],
    ['NUL in a key', { facts: { 'a\u0000': 1 } }, /key at \/facts\/a\\u0000 holds a NUL character/],
    ['a lone high surrogate', { facts: { os: { name: 'x\ud800' } } }, /\/facts\/os\/name holds a lone surrogate/],
    ['a lone low surrogate in a list', { r: ['ok', '\udc00'] }, /\/r\/1 holds a lone surrogate/],
    ['the body itself', 'a\u0000', /the body holds a NUL/],
  ])('%s', (_n, value, message) => {
    const out = unstorable(value);
    if (message) expect(out).toMatch(message);
    else expect(out).toBeUndefined();
  });
});

async function refusal(which: 'facts' | 'report' | 'csr', body: unknown): Promise<string | undefined> {
  try {
    await checkBody(which)({ body } as FastifyRequest);
    return undefined;
  } catch (err) {
    expect((err as { statusCode: number }).statusCode).toBe(400);
    return (err as Error).message;
  }
}

const report = {
  formatVersion: 1,
  catalogue: 'sha256:ab',
  noop: false,
  startedAt: '2026-12-04T10:00:00.123Z',
  finishedAt: '2026-12-04T10:00:01.456Z',
  durationMs: 1333,
  outcome: 'run',
  runId: 'r1',
  trigger: 'schedule',
  node: 'web-01',
  version: '0.1.0',
  exitCode: 2,
  catalogueDigest: 'sha256:ab',
  cachedCatalogue: false,
  codeVersion: 'sha256:cd',
  agent: { enabled: true },
  summary: { total: 2, unchanged: 1, changed: 1, pending: 0, failed: 0, skipped: 0 },
  changes: { intentional: 1, corrective: 0 },
  interrupted: false,
  timings: { lockWaitMs: 0, sourceMs: 12, runMs: 300 },
  resources: [
    {
      id: 'file[motd]',
      kind: 'file',
      name: 'motd',
      action: 'update',
      status: 'changed',
      cause: 'intentional',
      forcedBy: [],
      refresh: false,
      durationMs: 3,
      changes: [{ path: '/content', attribute: 'content', from: { sha256: 'a' }, to: { sha256: 'b' }, effect: 'update', sensitive: false, diff: '-a\n+b\n' }],
    },
    {
      id: 'docker.container[web]',
      kind: 'docker.container',
      name: 'web',
      action: 'none',
      status: 'failed',
      changes: [],
      forcedBy: [],
      refresh: false,
      durationMs: 1,
      error: { code: 'IMAGE_NOT_FOUND', message: 'no such image', hint: 'push it', resource: 'docker.container[web]' },
    },
  ],
};

describe('the schemas of spec/wire/', () => {
  it.each([
    [
      'facts',
      {
        facts: {
          hostname: 'web-01',
          os: { codename: 'bookworm' },
          cpus: 2,
          network: { eth0: { mac: 'x', internal: false, addresses: [{ family: 'IPv4', address: '10.0.0.1', cidr: '10.0.0.1/8' }] } },
          docker: null,
          custom: { any: [1, 'two'] },
        },
      },
      undefined,
    ],
    ['"hostname": 123', { facts: { hostname: 123 } }, /field facts\/hostname: must be string/],
    ['no hostname', { facts: {} }, /hostname/],
    ['facts not an object', { facts: 42 }, /facts: must be object/],
    ['something besides facts', { facts: { hostname: 'a' }, node: 'other' }, /unknown field "node"/],
    ['a string where cpus are counted', { facts: { hostname: 'a', cpus: 'many' } }, /facts\/cpus: must be integer/],
  ])('facts: %s', async (_n, body, message) => {
    const out = await refusal('facts', body);
    if (message) expect(out).toMatch(message);
    else expect(out).toBeUndefined();
  });

  it.each([
    ['an agent report', report, undefined],
    ['a minimal report', { formatVersion: 1 }, undefined],
    ['a number where a time is expected', { ...report, startedAt: 1733306400000 }, /field startedAt: must be string/],
    ['a time that is not one', { ...report, startedAt: 'yesterday' }, /field startedAt: must match/],
    ['changes as a string', { ...report, changes: 'all of them' }, /field changes: must be object/],
    ['a resource status not known', { ...report, resources: [{ id: 'x', status: 'exploded' }] }, /resources\/0\/status: must be one of/],
    ['summary counts that are not counts', { ...report, summary: { changed: -1 } }, /summary\/changed/],
    ['another format', { ...report, formatVersion: 2 }, /formatVersion/],
  ])('report: %s', async (_n, body, message) => {
    const out = await refusal('report', body);
    if (message) expect(out).toMatch(message);
    else expect(out).toBeUndefined();
    expect(isValidReport(body)).toBe(message === undefined);
  });

  it.each([
    ['a request', { csr: '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n', token: 'abc_DEF-123' }, undefined],
    ['no csr', { token: 'x' }, /csr/],
    ['a csr that is not PEM', { csr: 'hello' }, /field csr: must match/],
    [
      'a token with other characters',
      { csr: '-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----', token: 'a b' },
      /field token: must match/,
    ],
    ['something more', { csr: '-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----', admin: true }, /unknown field "admin"/],
  ])('certificate request: %s', async (_n, body, message) => {
    const out = await refusal('csr', body);
    if (message) expect(out).toMatch(message);
    else expect(out).toBeUndefined();
  });

  it('a stored report with a string the store could not hold is not rendered', () => {
    expect(isValidReport({ formatVersion: 1, note: 'a\ud800' })).toBe(false);
  });
});
