import { afterAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManifestErrors } from '../core/errors.js';
import { assignWaves, durationMs, loadRolloutPolicy } from './rollout.js';
import { validateFleet } from './fleet.js';
import { testFacts } from './fleet.testkit.js';

const dirs: string[] = [];
function tree(yaml?: string): string {
  const d = mkdtempSync(path.join(tmpdir(), 'i30-rollout-'));
  dirs.push(d);
  if (yaml !== undefined) writeFileSync(path.join(d, 'rollout.yaml'), yaml);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function errorsOf(yaml: string): Promise<string[]> {
  try {
    await loadRolloutPolicy(tree(yaml));
  } catch (err) {
    if (err instanceof ManifestErrors) return err.errors.map((e) => e.format());
    throw err;
  }
  throw new Error('expected errors');
}

const GOOD = `waves:
  - name: canary
    nodes: ["web-0*"]
    bake: 30s
  - name: some
    percent: 10
    bake: 1h30m
  - name: half
    percent: 50
  - name: all
health:
  maxReplaces: 1
  reportWithin: 10m
onFailure: revert
`;

describe('rollout.yaml', () => {
  it('no file: no policy', async () => {
    expect(await loadRolloutPolicy(tree())).toBeUndefined();
  });

  it('resolves durations and defaults', async () => {
    const p = (await loadRolloutPolicy(tree(GOOD)))!;
    expect(p.waves.map((w) => [w.name, w.bakeMs])).toEqual([
      ['canary', 30_000],
      ['some', 5_400_000],
      ['half', 0],
      ['all', 0],
    ]);
    expect(p.health).toEqual({ maxFailed: 0, maxHeld: 0, maxReplaces: 1, reportWithinMs: 600_000 });
    expect(p.onFailure).toBe('revert');
    expect(durationMs('1h')).toBe(3_600_000);
  });

  it('a wrong field is refused with file:line:col and the field', async () => {
    const e = await errorsOf('waves:\n  - name: canary\n    nodes: [a]\n    bake: soon\n');
    expect(e.join('\n')).toMatch(/rollout\.yaml:4:5 \(at \/waves\/0\/bake\)/);
    expect(e.join('\n')).toMatch(/bake/);
    const e2 = await errorsOf('waves:\n  - name: canary\n    nodez: [a]\n');
    expect(e2.join('\n')).toMatch(/rollout\.yaml:3:5.*nodez/);
    expect(e2.join('\n')).toMatch(/nodez/);
  });

  it('semantic errors point at the wave: percentages that shrink, a wave choosing nothing, two of a name', async () => {
    const e = await errorsOf('waves:\n  - name: a\n    percent: 50\n  - name: b\n    percent: 10\n  - name: c\n  - name: c\n    nodes: ["x"]\n');
    const all = e.join('\n');
    expect(all).toMatch(/rollout\.yaml:5:5 .*cumulative and must grow/);
    expect(all).toMatch(/rollout\.yaml:6:\d+.*wave "c" chooses no nodes/);
    expect(all).toMatch(/two waves are named "c"/);
  });

  it('a fleet tree with a bad rollout.yaml does not validate', async () => {
    const d = tree('waves: []\n');
    cpSync(fileURLToPath(new URL('../../examples/server-fleet/', import.meta.url)), d, { recursive: true });
    writeFileSync(path.join(d, 'rollout.yaml'), 'waves: []\n');
    await expect(validateFleet(d, testFacts('x'))).rejects.toThrow(/rollout\.yaml:1:1 \(at \/waves\).*fewer than 1/);
  });
});

describe('waves', () => {
  const nodes = Array.from({ length: 20 }, (_, i) => ({ node: `n${i}`, facts: { os: { codename: i === 7 ? 'trixie' : 'bookworm' } } }));

  it('names and facts first, then cumulative percentages by a stable hash, the last wave takes the rest', async () => {
    const p = (await loadRolloutPolicy(
      tree(
        'waves:\n  - name: canary\n    nodes: ["n1"]\n  - name: new-os\n    facts: { os.codename: trixie }\n  - name: ten\n    percent: 10\n  - name: half\n    percent: 50\n  - name: all\n',
      ),
    ))!;
    const w = assignWaves(p, nodes);
    expect(w.get('n1')).toBe(0);
    expect(w.get('n7')).toBe(1);
    const count = (i: number): number => [...w.values()].filter((v) => v === i).length;
    expect([count(0), count(1), count(2), count(3), count(4)]).toEqual([1, 1, 2, 7, 9]);
    // The same nodes go first whatever order they come in, and whoever else is in the fleet.
    const again = assignWaves(p, [...nodes].reverse());
    expect([...again.entries()].sort()).toEqual([...w.entries()].sort());
    const first = [...w.entries()].filter(([, i]) => i === 2).map(([n]) => n);
    const bigger = assignWaves(p, [...nodes, ...Array.from({ length: 5 }, (_, i) => ({ node: `m${i}` }))]);
    for (const n of first) expect(bigger.get(n)).toBeLessThanOrEqual(3);
  });
});
