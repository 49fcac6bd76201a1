/** The whole result of one `npm run bench`, as printed and as written to bench/results/. */
import type { CatalogueResult } from './catalogue.js';
import type { Options } from './options.js';
import type { RunRecord, ToolResult } from './scenarios.js';
import { summarize, type Summary } from './stats.js';
import type { StartupResult } from './startup.js';
import type { ScalePoint } from './scale.js';
import type { PairedResult } from './paired.js';
import type { Scenario } from './tools/types.js';

export interface BenchReport {
  readonly date: string;
  readonly machine: string;
  /** 1-minute load average when the run started and ended: a busy shared machine skews every figure. */
  readonly loadAverage: { readonly start: number; readonly end: number };
  readonly versions: Readonly<Record<string, string>>;
  readonly options: Options;
  readonly tools: readonly ToolResult[];
  readonly startup: StartupResult;
  readonly catalogue: readonly CatalogueResult[];
  /** The no-change scale curve (issue 11). */
  readonly scale: readonly ScalePoint[];
  /** S2 and S4 against the floor pair by pair (bench/paired.ts); empty when skipped. */
  readonly paired?: readonly PairedResult[];
  /** Bench networks the engine refused to remove at the end (tolerated). */
  readonly leftoverNetworks: readonly string[];
}

export const FLOOR = 'floor (docker CLI)';
export const TSCONVERGE = 'tsconverge';
export const PEERS: readonly string[] = ['docker-compose', 'ansible', 'puppet'];

export interface Cell {
  readonly seconds: Summary | null;
  /** Peak RSS (KiB), the highest over the runs. */
  readonly peakRssKb: number | null;
  readonly passed: number;
  readonly runs: readonly RunRecord[];
}

export function cell(tool: ToolResult | undefined, scenario: Scenario): Cell | null {
  if (tool === undefined) return null;
  const runs = tool.records.filter((r) => r.scenario === scenario);
  if (runs.length === 0) return null;
  const rss = runs.map((r) => r.peakRssKb).filter((x): x is number => x !== null);
  return {
    seconds: summarize(runs.map((r) => r.seconds)),
    peakRssKb: rss.length > 0 ? Math.max(...rss) : null,
    passed: runs.filter((r) => r.pass).length,
    runs,
  };
}

export function toolNamed(report: BenchReport, name: string): ToolResult | undefined {
  return report.tools.find((t) => t.tool === name);
}

/** Median of `name` over the floor's median for the same scenario (S4: the floor's read-all script). */
export function ratioToFloor(report: BenchReport, name: string, scenario: Scenario): number | null {
  const t = cell(toolNamed(report, name), scenario)?.seconds;
  const f = cell(toolNamed(report, FLOOR), scenario)?.seconds;
  return t && f && f.median > 0 ? t.median / f.median : null;
}

export function megabytes(kib: number | null): number | null {
  return kib === null ? null : (kib * 1024) / 1e6;
}
