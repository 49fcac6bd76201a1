/**
 * The container provider's automatic relations (autoRequire: its image, networks, volumes;
 * autoSubscribe: the files under its bind-mount sources) from indexes built once per
 * catalogue, against their definition written as a scan of every resource (fast-check).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createContainerProvider } from './container.js';
import type { Resource } from '../types.js';

const provider = createContainerProvider(undefined as never); // the relations never touch the engine

const res = (kind: string, name: string, attrs: Record<string, unknown>): Resource => ({ kind, name, id: `${kind}[${name}]`, attrs }) as unknown as Resource;

const segment = fc.constantFrom('a', 'b', 'ab', 'a.b', 'c');
const pathArb = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => `/${s.join('/')}`);

describe('container relations', () => {
  it('match a scan of every resource, in catalogue order', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            pathArb.map((p) => ({ t: 'file' as const, p })),
            fc.constantFrom('img:1', 'img:2').map((ref) => ({ t: 'image' as const, ref })),
            fc.record({
              t: fc.constant('container' as const),
              image: fc.constantFrom('img:1', 'img:2', 'img:3'),
              binds: fc.array(
                fc.tuple(pathArb, fc.boolean()).map(([p, slash]) => (slash ? `${p}/` : p)),
                { maxLength: 2 },
              ),
            }),
          ),
          { maxLength: 30 },
        ),
        (items) => {
          const all = items.map((it, i) =>
            it.t === 'file'
              ? res('file', `f${i}`, { path: it.p })
              : it.t === 'image'
                ? res('docker.image', `i${i}`, { ref: it.ref })
                : res('docker.container', `c${i}`, { image: it.image, mounts: it.binds.map((source) => ({ type: 'bind', source, target: '/x' })) }),
          );
          for (const r of all.filter((x) => x.kind === 'docker.container')) {
            const attrs = r.attrs as { image: string; mounts: { source: string }[] };
            const images = all.filter((i) => i.kind === 'docker.image' && (i.attrs as { ref: string }).ref === attrs.image).map((i) => i.id);
            expect(provider.autoRequire!(r as never, all)).toEqual(images);
            const sources = attrs.mounts.map((m) => m.source.replace(/\/+$/, ''));
            const files =
              sources.length === 0
                ? []
                : all
                    .filter((f) => f.kind === 'file')
                    .filter((f) => {
                      const p = String((f.attrs as { path: string }).path);
                      return sources.some((s) => p === s || p.startsWith(`${s}/`));
                    })
                    .map((f) => f.id);
            expect(provider.autoSubscribe!(r as never, all)).toEqual(files);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
