/**
 * Cold start: `tsconverge --version` (the single executable when built) and a bare
 * `node -e 0` on the same runtime (the project's Node 24), each as a fresh process every
 * time. hyperfine when present (no shell, a few warm-up runs for the page cache),
 * otherwise repeated spawns timed here. The target compares the two medians.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, timed } from './exec.js';
import { summarize, type Summary } from './stats.js';
import { NODE24, TSCONVERGE_BIN, tsconvergeArgv } from './tools/tsconverge.js';

export interface StartupResult {
  readonly method: 'hyperfine' | 'spawn';
  /** Seconds. */
  readonly summary: Summary | null;
  readonly peakRssKb: number | null;
  /** A bare `node -e 0` on the same runtime, seconds. */
  readonly bareNode?: { readonly summary: Summary | null; readonly peakRssKb: number | null; readonly version: string };
  readonly error?: string;
}

async function measure(argv: readonly string[], runs: number): Promise<{ method: 'hyperfine' | 'spawn'; summary: Summary; peakRssKb: number | null }> {
  const probe = await timed({ argv: [...argv] });
  if (probe.exitCode !== 0) throw new Error(`${argv.join(' ')} exited ${probe.exitCode}: ${probe.stderr.trim().slice(0, 200)}`);
  const hyperfine = await run({ argv: ['hyperfine', '--version'] }).catch(() => null);
  if (hyperfine?.exitCode === 0) {
    const dir = mkdtempSync(join(tmpdir(), 'tscbench-hf-'));
    try {
      const file = join(dir, 'hf.json');
      const res = await run({ argv: ['hyperfine', '-N', '--warmup', '3', '--runs', String(runs), '--export-json', file, argv.join(' ')] });
      if (res.exitCode === 0) {
        const times = (JSON.parse(readFileSync(file, 'utf8')) as { results: { times: number[] }[] }).results[0]?.times ?? [];
        return { method: 'hyperfine', summary: summarize(times)!, peakRssKb: probe.peakRssKb };
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push((await timed({ argv: [...argv] })).seconds);
  return { method: 'spawn', summary: summarize(times)!, peakRssKb: probe.peakRssKb };
}

export async function benchStartup(runs: number): Promise<StartupResult> {
  if (!existsSync(TSCONVERGE_BIN)) return { method: 'spawn', summary: null, peakRssKb: null, error: 'bin/tsconverge.js does not exist yet' };
  let ts;
  try {
    ts = await measure([...tsconvergeArgv(), '--version'], runs);
  } catch (err) {
    return { method: 'spawn', summary: null, peakRssKb: null, error: (err as Error).message };
  }
  const node = existsSync(NODE24) ? NODE24 : 'node';
  const version = (await run({ argv: [node, '--version'] })).stdout.trim();
  const bare = await measure([node, '-e', '0'], runs).catch(() => null);
  return { ...ts, bareNode: { summary: bare?.summary ?? null, peakRssKb: bare?.peakRssKb ?? null, version } };
}
