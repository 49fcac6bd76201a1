/**
 * Scale: `plan` of N `file` resources (default 100,000) against a temp root, each
 * stage of the pipeline timed in this process (load + validate, compile, graph,
 * read + diff + report through runCatalogue in noop), then the real CLI end to end.
 * Not a test: figures go to stdout; README "Limits and validation" and
 * bench/README.md quote them.
 *
 *   npx tsx bench/plan-scale.ts [--resources N[,N...]] [--skip-cli]
 *
 * Several sizes (`--resources 1000,10000,100000`): each runs in its own process, one after
 * the other, and a closing table gives the CLI's CPU seconds and peak RSS per size with
 * CPU per 1,000 resources (linear: that column stays flat). Temp files go under $TMPDIR.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { loadManifestFile } from '../src/catalogue/load.js';
import { compileResources } from '../src/catalogue/compile.js';
import { createSchemaRegistry } from '../src/spec/schemas.js';
import { createGraph } from '../src/engine/graph.js';
import { runCatalogue } from '../src/engine/run.js';
import { createProviderRegistry } from '../src/providers/container.js';
import { createFacts } from '../src/facts/facts.js';
import { createLogger } from '../src/core/log.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const REPO = path.resolve(import.meta.dirname, '..');
const sizes = (arg('--resources') ?? '100000').split(',').map(Number);
if (sizes.length > 1) {
  const rows: string[] = [];
  for (const n of sizes) {
    const rest = process.argv.slice(2).filter((a, i, all) => a !== '--resources' && all[i - 1] !== '--resources');
    const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, '--resources', String(n), ...rest], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    process.stdout.write(r.stdout);
    const m = /CPU ([\d.]+) s, peak RSS (\d+) MB/.exec(r.stdout);
    const inproc = /in process, total\s+([\d.]+) s\s+([\d.]+) s/.exec(r.stdout);
    rows.push(
      `  ${String(n).padStart(9)} ${m ? `${m[1]!.padStart(8)} s ${m[2]!.padStart(7)} MB ${((Number(m[1]) / n) * 1000 * 1000).toFixed(1).padStart(9)} ms` : ` exit ${r.status} ${r.signal ?? ''}`.padEnd(40)} ${inproc ? inproc[2]!.padStart(8) + ' s' : ''}`,
    );
  }
  console.log(
    `\nscale curve: tsconverge plan (CLI, new process)\n  ${'resources'.padStart(9)} ${'CPU'.padStart(10)} ${'peak RSS'.padStart(10)} ${'CPU/1,000'.padStart(12)} ${'in-process CPU'.padStart(15)}`,
  );
  rows.forEach((r) => console.log(r));
  process.exit(0);
}
const N = sizes[0]!;

const base = mkdtempSync(path.join(tmpdir(), 'tsc-scale-'));
const root = path.join(base, 'root');
mkdirSync(root);
const manifest = path.join(base, 'manifest.yaml');
const lines = ['resources:'];
for (let i = 0; i < N; i++) {
  // One file in ten already exists with the declared content: a plan reads all of them.
  lines.push(`  - kind: file`, `    name: /srv/d${i % 100}/f${i}.conf`, `    content: "value ${i}\\n"`, `    mode: "0644"`);
}
writeFileSync(manifest, lines.join('\n') + '\n');
for (let d = 0; d < 100; d++) mkdirSync(path.join(root, 'srv', `d${d}`), { recursive: true });
for (let i = 0; i < N; i += 10) writeFileSync(path.join(root, 'srv', `d${i % 100}`, `f${i}.conf`), `value ${i}\n`, { mode: 0o644 });

const times: [string, number][] = [];
const heap: number[] = [];
const cpu: number[] = [];
const time = async <T>(stage: string, fn: () => Promise<T> | T): Promise<T> => {
  const t = performance.now();
  const c = process.cpuUsage();
  const out = await fn();
  times.push([stage, performance.now() - t]);
  const used = process.cpuUsage(c);
  cpu.push((used.user + used.system) / 1000);
  heap.push(process.memoryUsage().heapUsed);
  return out;
};
try {
  const registry = createSchemaRegistry();
  const facts = await createFacts(root, { docker: false });
  const loaded = await time('load + validate (yaml, ajv)', () => loadManifestFile(manifest, registry));
  if (loaded.errors.length) throw new Error(loaded.errors[0]!.format());
  const catalogue = await time('compile (checks, hash, freeze)', () => compileResources(loaded.resources, { facts, registry }));
  const providers = createProviderRegistry();
  await time('graph (edges, topological order)', () => createGraph(catalogue, providers));
  const report = await time('read + diff + report (runCatalogue, noop)', () =>
    runCatalogue(catalogue, providers, { noop: true, root, log: createLogger({ level: 'error' }), facts }),
  );
  const total = times.reduce((s, [, ms]) => s + ms, 0);
  let cli: number | undefined;
  let cliCpu = '';
  if (!process.argv.includes('--skip-cli')) {
    // GNU time reports the child's CPU seconds and peak RSS: on a shared machine CPU time is the steadier figure.
    const t = performance.now();
    const r = spawnSync(
      '/usr/bin/time',
      [
        '-f',
        'TIME %U %S %M',
        process.execPath,
        path.join(REPO, 'bin/tsconverge.js'),
        'plan',
        manifest,
        '--root',
        root,
        '--format',
        'json',
        '--log-level',
        'error',
      ],
      { encoding: 'utf8', maxBuffer: 1 << 30 },
    );
    cli = performance.now() - t;
    if (r.status !== 2) throw new Error(`plan exited ${r.status}: ${r.stderr.slice(0, 500)}`);
    const m = /TIME ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr);
    if (m) cliCpu = `, CPU ${(Number(m[1]) + Number(m[2])).toFixed(2)} s, peak RSS ${(Number(m[3]) / 1024).toFixed(0)} MB`;
  }
  console.log(`plan of ${N} file resources (${(Buffer.byteLength(lines.join('\n')) / 1e6).toFixed(1)} MB manifest), node ${process.version}`);
  console.log(`  ${'stage'.padEnd(44)} ${'wall'.padStart(8)} ${'CPU'.padStart(8)}   heap after`);
  times.forEach(([stage, ms], i) =>
    console.log(
      `  ${stage.padEnd(44)} ${(ms / 1000).toFixed(2).padStart(6)} s ${(cpu[i]! / 1000).toFixed(2).padStart(6)} s   ${(heap[i]! / 1e6).toFixed(0)} MB`,
    ),
  );
  console.log(
    `  ${'in process, total'.padEnd(44)} ${(total / 1000).toFixed(2).padStart(6)} s ${(cpu.reduce((a, b) => a + b, 0) / 1000).toFixed(2).padStart(6)} s`,
  );
  if (cli !== undefined) console.log(`  tsconverge plan (CLI, new process): wall ${(cli / 1000).toFixed(2)} s${cliCpu}`);
  console.log(
    `  load average at the end: ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} (${cpus().length} cores)`,
  );
  console.log(`  summary: ${JSON.stringify(report.summary)}`);
} finally {
  rmSync(base, { recursive: true, force: true });
}
