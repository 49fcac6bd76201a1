/**
 * Cold start: `tsconverge --version` as a fresh process each time. hyperfine
 * when present (no shell, a few warm-up runs for the page cache), otherwise
 * repeated spawns timed here.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, timed } from './exec.js';
import { summarize, type Summary } from './stats.js';
import { TSCONVERGE_BIN } from './tools/tsconverge.js';

export interface StartupResult {
  readonly method: 'hyperfine' | 'spawn';
  /** Seconds. */
  readonly summary: Summary | null;
  readonly peakRssKb: number | null;
  readonly error?: string;
}

export async function benchStartup(runs: number): Promise<StartupResult> {
  if (!existsSync(TSCONVERGE_BIN)) return { method: 'spawn', summary: null, peakRssKb: null, error: 'bin/tsconverge.js does not exist yet' };
  const probe = await timed({ argv: ['node', TSCONVERGE_BIN, '--version'] });
  if (probe.exitCode !== 0) {
    return { method: 'spawn', summary: null, peakRssKb: null, error: `--version exited ${probe.exitCode}: ${probe.stderr.trim().slice(0, 200)}` };
  }
  const hyperfine = await run({ argv: ['hyperfine', '--version'] }).catch(() => null);
  if (hyperfine?.exitCode === 0) {
    const dir = mkdtempSync(join(tmpdir(), 'tscbench-hf-'));
    try {
      const file = join(dir, 'hf.json');
      const res = await run({
        argv: ['hyperfine', '-N', '--warmup', '3', '--runs', String(runs), '--export-json', file, `node ${TSCONVERGE_BIN} --version`],
      });
      if (res.exitCode === 0) {
        const times = (JSON.parse(readFileSync(file, 'utf8')) as { results: { times: number[] }[] }).results[0]?.times ?? [];
        return { method: 'hyperfine', summary: summarize(times), peakRssKb: probe.peakRssKb };
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push((await timed({ argv: ['node', TSCONVERGE_BIN, '--version'] })).seconds);
  return { method: 'spawn', summary: summarize(times), peakRssKb: probe.peakRssKb };
}
