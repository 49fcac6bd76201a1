/**
 * `npm run bench`: tsconverge side by side with the docker CLI floor,
 * docker-compose, ansible and puppet on one workload and one engine; prints one
 * table and writes the full results to bench/results/. See bench/README.md.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { benchCatalogue } from './catalogue.js';
import { cleanup, dockerVersion, hasImage } from './docker.js';
import { dropPageCache, run } from './exec.js';
import { USAGE, resolveOptions, type ToolSlug } from './options.js';
import type { BenchReport } from './report.js';
import { benchTool, type ToolResult } from './scenarios.js';
import { benchStartup } from './startup.js';
import { benchScale } from './scale.js';
import { renderReport } from './table.js';
import { ansible } from './tools/ansible.js';
import { compose } from './tools/compose.js';
import { floor } from './tools/floor.js';
import { benchPaired } from './paired.js';
import { puppet } from './tools/puppet.js';
import { TSCONVERGE_EXE, tsconverge } from './tools/tsconverge.js';
import type { Tool } from './tools/types.js';
import { IMAGE } from './workload.js';

const BENCH_DIR = import.meta.dirname;
const TOOLS: Readonly<Record<ToolSlug, Tool>> = { floor, tsconverge, compose, ansible, puppet };
const log = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`);
};

async function main(): Promise<number> {
  const opts = resolveOptions(process.argv.slice(2), process.env);
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (opts.setup) {
    log('running bench/setup.sh');
    const res = await run({ argv: ['bash', join(BENCH_DIR, 'setup.sh')] }, 30 * 60_000);
    process.stderr.write(res.stderr);
    if (res.exitCode !== 0) throw new Error(`bench/setup.sh exited ${res.exitCode}`);
  }
  if (!(await hasImage(IMAGE))) throw new Error(`image ${IMAGE} is missing; run bash bench/setup.sh`);

  const loadStart = loadavg()[0] ?? 0;
  const session = Date.now().toString(36);
  const workDir = join(BENCH_DIR, 'workload');
  const before = await cleanup();
  if (before.containers > 0) log(`removed ${before.containers} bench containers left by an earlier run`);

  const tools: ToolResult[] = [];
  for (const slug of opts.tools) {
    const tool = TOOLS[slug];
    const reps = tool.slow ? opts.peerReps : opts.reps;
    log(`${tool.name}: ${reps} repetition(s) per scenario`);
    // The single executable starts from a defined page cache, as after a boot (bench/exec.ts dropPageCache).
    if (slug === 'tsconverge' && existsSync(TSCONVERGE_EXE)) await dropPageCache(TSCONVERGE_EXE);
    tools.push(await benchTool(tool, slug, { reps, session, workDir, log }));
  }
  log('tsconverge --version cold start');
  const startup = await benchStartup(opts.startupRuns);
  log('catalogue load and fleet compile');
  const catalogue = await benchCatalogue(workDir, opts.catalogueIterations, opts.fleetNodes);
  const scale =
    opts.tools.includes('floor') && opts.tools.includes('tsconverge') && opts.scale.length > 0
      ? (log(`scale curve: ${opts.scale.join(', ')} containers`), await benchScale(opts.scale, opts.reps, session, workDir, log))
      : [];
  const paired =
    opts.tools.includes('floor') && opts.tools.includes('tsconverge') && opts.pairs > 0
      ? (log(`paired S2 and S4: ${opts.pairs} pairs each`), await benchPaired(opts.pairs, session, workDir, log))
      : [];
  const after = await cleanup();

  const versions: Record<string, string> = { node: `node ${process.version}`, engine: `docker engine ${await dockerVersion()}` };
  for (const t of tools) if (t.version !== null) versions[t.tool] = t.version;
  const report: BenchReport = {
    date: new Date().toISOString(),
    machine: `${hostname()}, ${cpus().length} x ${cpus()[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}`,
    loadAverage: { start: loadStart, end: loadavg()[0] ?? 0 },
    versions,
    options: opts,
    tools,
    startup,
    catalogue,
    scale,
    paired,
    leftoverNetworks: after.leftoverNetworks,
  };
  const table = renderReport(report);
  process.stdout.write(`${table}\n`);
  const resultsDir = resolve(BENCH_DIR, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const json = `${JSON.stringify({ ...report, table }, null, 2)}\n`;
  const file = join(resultsDir, `bench-${report.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, json);
  writeFileSync(join(resultsDir, 'latest.json'), json);
  log(`results written to ${file}`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    log(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
