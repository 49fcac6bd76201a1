/**
 * The inputs stamp (stamp.ts) on real files: its parts, and the words a compile gives for
 * what changed since the stamp it could not reuse.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inputsStamp, stampChange } from './stamp.js';
import type { Facts } from '../facts/facts.js';

const dir = mkdtempSync(path.join(tmpdir(), 'tsc-stamp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const facts = (extra: Record<string, unknown> = {}): Facts =>
  ({ hostname: 'h', uptimeSeconds: 1, interfaces: { lo: ['127.0.0.1'] }, ...extra }) as unknown as Facts;

describe('inputsStamp', () => {
  it('is equal for equal inputs and names each input that changed', async () => {
    writeFileSync(path.join(dir, 'm.yaml'), 'resources: []\n');
    const a = (await inputsStamp({ paths: [dir, undefined], facts: facts(), options: { node: 'n' } }))!;
    const b = (await inputsStamp({ paths: [dir, undefined], facts: facts({ uptimeSeconds: 99 }), options: { node: 'n' } }))!;
    expect(b.value).toBe(a.value); // uptime is not an input
    expect(a.parts.secrets).toBeUndefined();

    const f = (await inputsStamp({
      paths: [dir, undefined],
      facts: facts({ interfaces: { lo: ['127.0.0.1'], veth1: ['fe80::1'] }, role: 'web' }),
      options: { node: 'n' },
    }))!;
    expect(f.value).not.toBe(a.value);
    expect(stampChange(a.parts, f.parts)).toBe('the facts changed (interfaces, role)');

    const o = (await inputsStamp({ paths: [dir, undefined], facts: facts(), options: { node: 'other' } }))!;
    expect(stampChange(a.parts, o.parts)).toBe('the options or TSCONVERGE_* variables changed');

    writeFileSync(path.join(dir, 'more.yaml'), 'resources: []\n');
    const t = (await inputsStamp({ paths: [dir, undefined], facts: facts({ role: 'db' }), options: { node: 'n' } }))!;
    expect(stampChange(a.parts, t.parts)).toBe('the manifest tree changed; the facts changed (role)');

    expect(stampChange(undefined, t.parts)).toBe('no earlier compile recorded its inputs');
    expect(stampChange(t.parts, t.parts)).toBe('the inputs changed');
  });

  it('gives no stamp for a tree that changed after settledBeforeMs', async () => {
    writeFileSync(path.join(dir, 'fresh.yaml'), 'resources: []\n');
    expect(await inputsStamp({ paths: [dir, undefined], facts: facts(), options: null, settledBeforeMs: Date.now() - 60_000 })).toBeUndefined();
  });
});
