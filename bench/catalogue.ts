/** The catalogue benchmarks: each target runs in its own catalogue-worker.ts process under GNU time. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { timed } from './exec.js';
import type { CatalogueWorkerResult } from './catalogue-worker.js';
import { manifest } from './tools/tsconverge.js';
import { createWorkload } from './workload.js';

export interface CatalogueResult extends CatalogueWorkerResult {
  readonly target: string;
  readonly description: string;
  readonly peakRssKb: number | null;
}

const ROOT = resolve(import.meta.dirname, '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const WORKER = join(ROOT, 'bench', 'catalogue-worker.ts');
/** The fleet-style sources the issue names; production environment. */
export const FLEET_TREE = join(ROOT, 'examples', 'fleet');

export async function benchCatalogue(workDir: string, loads: number, fleetNodes: number): Promise<CatalogueResult[]> {
  const dir = join(workDir, 'catalogue');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'manifest.yaml');
  writeFileSync(file, stringify(manifest(createWorkload('tscbench-net-catalogue'))));
  return [
    await runWorker('load-validate', loads, file, 'load+validate+resolve the 50-container manifest (loadCatalogue)'),
    await runWorker('fleet-compile', fleetNodes, FLEET_TREE, 'compile one node catalogue of examples/fleet (compileFleet)'),
  ];
}

async function runWorker(target: string, n: number, source: string, description: string): Promise<CatalogueResult> {
  const res = await timed({ argv: [TSX, WORKER, target, String(n), source] });
  const line = res.stdout.trim().split('\n').pop() ?? '';
  let parsed: CatalogueWorkerResult;
  try {
    parsed = JSON.parse(line) as CatalogueWorkerResult;
  } catch {
    parsed = { ok: false, iterations: 0, perSecond: 0, firstMs: 0, error: `worker exited ${res.exitCode}: ${res.stderr.trim().slice(0, 300)}` };
  }
  return { ...parsed, target, description, peakRssKb: res.peakRssKb };
}
