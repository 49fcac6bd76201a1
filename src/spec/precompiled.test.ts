/**
 * The validators compiled at build time (dist/spec/precompiled.js, written by
 * scripts/build-validators.mjs) must come from today's spec/ and judge like the ones
 * compiled at run time. Fails while dist/ is older than spec/: run `npm run build`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSpecAjv, specDigest, SPEC_DIR } from './schemas.js';
import type { Precompiled } from './precompiled.js';

const DIST = path.resolve(import.meta.dirname, '../../dist/spec/precompiled.js');

const samples: [string, Record<string, unknown>][] = [
  ['docker.container', { kind: 'docker.container', name: 'web', image: 'local/busybox:1', ports: ['127.0.0.1:8080:80'], restart: 'unless-stopped' }],
  ['docker.container', { kind: 'docker.container', name: 'web', image: 'local/busybox:1', ensure: 'sideways' }],
  ['docker.container', { kind: 'docker.container', name: 'web', image: 'local/busybox:1', nope: 1 }],
  ['docker.network', { kind: 'docker.network', name: 'web' }],
  ['file', { kind: 'file', name: '/srv/a', content: 'x', mode: '0644' }],
  ['file', { kind: 'file', name: '/srv/a', content: 7 }],
  ['sysctl', { kind: 'sysctl', name: 'net.core.somaxconn', value: 1024 }],
  ['dns', { kind: 'dns', name: 'main', nameservers: ['127.0.0.1'] }],
];

describe('precompiled validators', async () => {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run npm run build`);
  const { precompiled } = (await import(DIST)) as { precompiled: Precompiled | undefined };

  it('exist and come from the spec/ of this checkout (else: npm run build)', () => {
    expect(precompiled, 'dist/spec/precompiled.js is the placeholder: run npm run build').toBeDefined();
    expect(precompiled!.specDigest).toBe(specDigest());
  });

  it('cover every kind in spec/', () => {
    const { kinds } = createSpecAjv(SPEC_DIR);
    expect(Object.keys(precompiled!.kinds).sort()).toEqual(kinds.map((k) => k.kind).sort());
  });

  it.each(samples)('%s: judge %j like validators compiled at run time', (kind, item) => {
    const { ajv, kinds } = createSpecAjv(SPEC_DIR);
    const runtime = ajv.getSchema(kinds.find((k) => k.kind === kind)!.schema.$id as string)!;
    const pre = precompiled!.kinds[kind]!.validate;
    expect(pre(item)).toBe(runtime(item));
    expect(pre.errors ?? null).toEqual(runtime.errors ?? null);
  });
});
