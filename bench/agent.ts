/**
 * The agent's benchmarks (issue 9), never timed tests:
 *
 * 1. A warm agent's no-change run of the benchmark workload (1 network, 10 volumes,
 *    50 containers), measured inside the long-running process (the run report's
 *    durationMs: compile the manifest, read the engine, plan; the lock and the report
 *    included), against the docker CLI floor of a no-change run (one batched
 *    `docker ps` + one `docker inspect` of all, as bench/tools/floor.ts S2).
 * 2. The agent's resident memory idle between runs, over many consecutive runs
 *    (target: at most 60 MB idle, no growth over 500 runs): VmRSS from
 *    /proc/<pid>/status, read after each run has finished and its report is written.
 *
 * Runs are triggered with SIGHUP (the agent's own "run now"), one after the other.
 *
 *   npm run build && npx tsx bench/agent.ts [--runs 500] [--warm 30] [--floor 30] [--idle 10000] [--curve-idle 5000] [--keep]
 *                                           [--node-options '--max-semi-space-size=1'] [--exe] [--in-process] [--page-cache cold|written]
 *
 * The agent runs with the NODE_OPTIONS of contrib/systemd/tsconverge-agent.service by
 * default (a 1 MB young generation semi-space: Node's default 16 MB costs about 40 MB
 * of idle RSS and buys nothing for a process that runs every 30 minutes).
 *
 * Results: stdout, and bench/results/agent-<date>.json (gitignored). The workload is
 * removed afterwards unless --keep.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, totalmem, loadavg } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { dropPageCache, output, run } from './exec.js';
import { summarize } from './stats.js';
import { manifest, TSCONVERGE_BIN, TSCONVERGE_EXE } from './tools/tsconverge.js';
import { LABEL_KEY, LABEL_VALUE, createWorkload } from './workload.js';

/**
 * Its own names and label (not bench/run.ts's `tscbench-` and `tsconverge-test=bench`),
 * so it never touches, or is touched by, a `npm run bench` running at the same time.
 */
const LABEL_VAL = LABEL_VALUE === 'bench' ? 'ha-bench' : `ha-bench-${LABEL_VALUE}`;
const PREFIX = `${LABEL_VAL}-`;
const LABEL = `${LABEL_KEY}=${LABEL_VAL}`;

function agentManifest(network: string): unknown {
  const w = JSON.stringify(manifest(createWorkload(network)));
  const m = JSON.parse(
    LABEL_VALUE === 'bench' ? w.replaceAll('tscbench-', PREFIX) : w.replaceAll(`tscbench-${LABEL_VALUE}-`, PREFIX).replaceAll('tscbench-', PREFIX),
  ) as { resources: { labels?: Record<string, string> }[] };
  for (const r of m.resources) if (r.labels) r.labels[LABEL_KEY] = LABEL_VAL;
  return m;
}

async function cleanup(): Promise<void> {
  const ids = (await output(['docker', 'ps', '-aq', '--filter', `label=${LABEL}`])).split('\n').filter(Boolean);
  if (ids.length) await run({ argv: ['docker', 'rm', '-f', '-v', ...ids] });
  const vols = (await output(['docker', 'volume', 'ls', '-q', '--filter', `label=${LABEL}`])).split('\n').filter((v) => v.startsWith(PREFIX));
  if (vols.length) await run({ argv: ['docker', 'volume', 'rm', '-f', ...vols] });
  for (const n of (await output(['docker', 'network', 'ls', '--format', '{{.Name}}', '--filter', `label=${LABEL}`]))
    .split('\n')
    .filter((x) => x.startsWith(PREFIX))) {
    await run({ argv: ['docker', 'network', 'rm', n] }); // Engine 20.10 may refuse: names are fresh per run
  }
}

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg('runs', 500);
const WARM = arg('warm', 30);
const FLOOR = arg('floor', 30);
/** Keep the workload afterwards, and reuse a kept one (fixed network name) instead of converging from empty. */
const KEEP = process.argv.includes('--keep');
const IDLE_MS = arg('idle', 10_000);
const CURVE_IDLE = arg('curve-idle', 5_000);
/** The agent's NODE_OPTIONS, as contrib/systemd/tsconverge-agent.service sets them ('' for Node's defaults). */
const NODE_OPTIONS = ((): string => {
  const i = process.argv.indexOf('--node-options');
  return i >= 0 ? (process.argv[i + 1] ?? '') : '--max-semi-space-size=1';
})();

/** Run the single executable dist/tsconverge (what the systemd unit runs) instead of node bin/tsconverge.js. */
const EXE = process.argv.includes('--exe');
/** The agent's --in-process (every run inside the agent process) instead of its default child process per run. */
const IN_PROCESS = process.argv.includes('--in-process');
/**
 * The page cache of the executable when the agent starts. Resident memory counts the file
 * pages a process maps, and on a fault Linux maps the neighbouring pages that are already
 * cached too (fault-around), whole large folios included: a file just written (built,
 * copied, installed) is all in the page cache in large folios, so the same process maps
 * far more of it. Measured 2026-11-24 (Linux 6.18, ext4) with a single executable whose
 * script only waits: 57.7 MB right after it was written, 39.8 MB once its pages were
 * dropped (node running the same script: 41.9 MB); reading the file back in (dd) gives the
 * dropped figure, not the written one.
 *   cold (default): the executable's pages are dropped first (`dd iflag=nocache count=0`),
 *                   as after a boot, when systemd starts the agent;
 *   written:        the agent runs a copy of the executable written just before, as right
 *                   after a build (one write(2) of the whole file).
 */
const PAGE_CACHE = ((): 'cold' | 'written' => {
  const i = process.argv.indexOf('--page-cache');
  const v = i >= 0 ? process.argv[i + 1] : 'cold';
  if (v !== 'cold' && v !== 'written') throw new Error('--page-cache cold|written');
  return v;
})();

/** The executable to start, its page cache in the state PAGE_CACHE names (pages other processes map stay). */
async function prepareExecutable(file: string, work: string): Promise<string> {
  if (PAGE_CACHE === 'written') {
    const copy = join(work, basename(file));
    writeFileSync(copy, readFileSync(file)); // one write(2) of the whole file, as the build (postject) does; cp, install or 32 KB writes (SFTP, a download) leave small folios: the low figure
    chmodSync(copy, 0o755);
    return copy;
  }
  await dropPageCache(file);
  return file;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Where the resident memory is: /proc/<pid>/smaps summed by kind of mapping (MB). */
function smapsBreakdown(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let kind = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[2] ?? '';
      kind = name === '' ? 'anonymous' : name.startsWith('[') ? name : name.endsWith('/node') || name.endsWith('/tsconverge') ? 'executable' : 'other files';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out[kind] = (out[kind] ?? 0) + Number(rss[1]) / 1024;
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Math.round(v * 10) / 10]));
}

function summaryOf(stateDir: string): { runId?: string; exitCode?: number; report?: string } {
  try {
    return JSON.parse(readFileSync(join(stateDir, 'last_run_summary.json'), 'utf8'));
  } catch {
    return {};
  }
}

/** The fields of an agent's run report (agent/report.ts) this bench reads, and the end-to-end time it adds. */
interface AgentRun {
  readonly runId: string;
  readonly exitCode: number;
  readonly durationMs: number;
  readonly summary: { readonly changed: number };
  readonly timings: { readonly runMs: number; readonly sourceMs: number };
  endToEndMs?: number;
}

async function waitRun(stateDir: string, after: string | undefined, timeoutMs = 120_000): Promise<AgentRun> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = summaryOf(stateDir);
    if (s.report && !s.report.includes(after ?? '\0')) return JSON.parse(readFileSync(join(stateDir, s.report), 'utf8')) as AgentRun;
    if (Date.now() > deadline) throw new Error('timed out waiting for an agent run');
    await sleep(5);
  }
}

async function floorOnce(): Promise<number> {
  const t = performance.now();
  const res = await run({ argv: ['bash', '-c', `set -euo pipefail; ids=$(docker ps -aq --filter label=${LABEL}); docker inspect $ids >/dev/null`] });
  if (res.exitCode !== 0) throw new Error(`floor failed: ${res.stderr}`);
  return (performance.now() - t) / 1000;
}

async function main(): Promise<void> {
  const started = new Date();
  const work = mkdtempSync(join(tmpdir(), 'tscbench-agent-'));
  const stateDir = join(work, 'state');
  const dir = resolve(import.meta.dirname, 'workload', 'agent');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'manifest.yaml');
  if (!KEEP) await cleanup();
  writeFileSync(file, stringify(agentManifest(KEEP ? 'tscbench-net-agent' : `tscbench-net-agent-${Date.now().toString(36)}`)));

  const binary = await prepareExecutable(EXE ? TSCONVERGE_EXE : realpathSync(process.execPath), work);
  const child = spawn(
    binary,
    [
      ...(EXE ? [] : [TSCONVERGE_BIN]),
      '--log-level',
      'warn',
      'agent',
      '--manifests',
      file,
      '--state-dir',
      stateDir,
      '--interval',
      '24h',
      '--keep-reports',
      '5',
      ...(IN_PROCESS ? ['--in-process'] : []),
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, NODE_OPTIONS },
    },
  );
  const pid = child.pid!;
  try {
    const first = await waitRun(stateDir, undefined, 300_000);
    process.stderr.write(`[agent] converged from empty: exit ${first.exitCode}, ${(first.durationMs / 1000).toFixed(2)} s, ${first.summary.changed} changed\n`);
    let last: string = first.runId;
    const runOnce = async (): Promise<AgentRun> => {
      const t = performance.now();
      child.kill('SIGHUP');
      const r = await waitRun(stateDir, last);
      r.endToEndMs = performance.now() - t;
      last = r.runId;
      if (r.exitCode !== 0) throw new Error(`a no-change run changed something: exit ${r.exitCode}`);
      return r;
    };

    // 1. Warm no-change runs, timed inside the process.
    const warm: AgentRun[] = [];
    for (let i = 0; i < WARM; i++) warm.push(await runOnce());
    const floor: number[] = [];
    for (let i = 0; i < FLOOR; i++) floor.push(await floorOnce());

    // 2. RSS idle between runs, over RUNS consecutive runs.
    await sleep(1000);
    const curve: { run: number; rssMb: number; idleRssMb?: number }[] = [{ run: 0, rssMb: rssKb(pid) / 1024 }];
    const t0 = Date.now();
    let done = 0;
    for (let i = 1; i <= RUNS; i++) {
      await runOnce();
      done = i;
      if (i % 25 === 0 || i === RUNS) {
        // Right after the run, and (every 100 runs) after CURVE_IDLE ms idle.
        await sleep(200);
        const busy = rssKb(pid) / 1024;
        let idle: number | undefined;
        if (i % 100 === 0 || i === RUNS) {
          await sleep(CURVE_IDLE);
          idle = rssKb(pid) / 1024;
        }
        curve.push({ run: i, rssMb: busy, ...(idle !== undefined ? { idleRssMb: idle } : {}) });
        process.stderr.write(
          `[agent] run ${i}/${RUNS}: RSS ${busy.toFixed(1)} MB${idle !== undefined ? `, ${idle.toFixed(1)} MB after ${CURVE_IDLE / 1000} s idle` : ''}\n`,
        );
      }
    }
    // Idle between runs (30 min in production): V8's memory reducer shrinks the heap
    // some seconds after allocation stops.
    await sleep(IDLE_MS);
    const idleMb = rssKb(pid) / 1024;
    const idleSmaps = smapsBreakdown(pid);

    const inside = summarize(warm.map((r) => r.durationMs / 1000))!;
    const endToEnd = summarize(warm.map((r) => r.endToEndMs! / 1000))!;
    const engine = summarize(warm.map((r) => r.timings.runMs / 1000))!;
    const source = summarize(warm.map((r) => r.timings.sourceMs / 1000))!;
    const fl = summarize(floor)!;
    const after100 = curve.find((c) => c.run >= Math.min(100, RUNS))!;
    const idleCurve = curve.filter((c) => c.idleRssMb !== undefined);
    const result = {
      date: started.toISOString(),
      machine: `${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, load ${loadavg()[0]!.toFixed(1)}`,
      node: process.version,
      nodeOptions: NODE_OPTIONS,
      binary: EXE ? 'dist/tsconverge' : 'node bin/tsconverge.js',
      pageCache: PAGE_CACHE,
      loadAfter: loadavg()[0]!.toFixed(1),
      idleSmapsMb: idleSmaps,
      warmRuns: WARM,
      floorRuns: FLOOR,
      rssRuns: done,
      rssSeconds: (Date.now() - t0) / 1000,
      mode: IN_PROCESS ? 'in-process' : 'child process per run',
      insideRun: inside,
      endToEnd,
      endToEndRatio: endToEnd.median / fl.median,
      engineRun: engine,
      catalogue: source,
      floor: fl,
      ratio: inside.median / fl.median,
      idleRssMb: idleMb,
      curve,
      growthAfterRun100Mb: curve.at(-1)!.rssMb - after100.rssMb,
      idleGrowthMb: idleCurve.length > 1 ? idleCurve.at(-1)!.idleRssMb! - idleCurve[0]!.idleRssMb! : null,
    };
    const out = [
      `agent benchmark  ${result.date}  ${result.machine}  node ${result.node}, ${result.binary} (${PAGE_CACHE === 'cold' ? 'its pages dropped from the page cache at start, as after a boot' : 'a copy written in one write(2) just before, as the build leaves it'}), ${result.mode}, agent NODE_OPTIONS="${NODE_OPTIONS}"`,
      `warm no-change run, inside the agent (n=${inside.n}): median ${(inside.median * 1000).toFixed(0)} ms (min ${(inside.min * 1000).toFixed(0)}, max ${(inside.max * 1000).toFixed(0)}); catalogue ${(source.median * 1000).toFixed(0)} ms, engine ${(engine.median * 1000).toFixed(0)} ms`,
      `warm no-change run, SIGHUP to report written, seen from outside (5 ms polls; ${IN_PROCESS ? 'in-process' : "includes the run process's start"}): median ${(endToEnd.median * 1000).toFixed(0)} ms (min ${(endToEnd.min * 1000).toFixed(0)}, max ${(endToEnd.max * 1000).toFixed(0)}); ${result.endToEndRatio.toFixed(2)}x the floor`,
      `docker CLI floor, ps + inspect (n=${fl.n}): median ${(fl.median * 1000).toFixed(0)} ms (min ${(fl.min * 1000).toFixed(0)}, max ${(fl.max * 1000).toFixed(0)})`,
      `ratio: ${result.ratio.toFixed(2)}x the floor (target 1.5x)`,
      `idle RSS ${IDLE_MS / 1000} s after run ${done}: ${idleMb.toFixed(1)} MB (target 60 MB); right after runs, from run ${after100.run} to ${curve.at(-1)!.run}: ${result.growthAfterRun100Mb >= 0 ? '+' : ''}${result.growthAfterRun100Mb.toFixed(1)} MB; idle, from run ${idleCurve[0]?.run} to ${idleCurve.at(-1)?.run}: ${result.idleGrowthMb === null ? 'n/a' : `${result.idleGrowthMb >= 0 ? '+' : ''}${result.idleGrowthMb.toFixed(1)} MB`}`,
      `idle RSS by mapping (MB): ${Object.entries(idleSmaps)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}; load at the end ${result.loadAfter}`,
      `RSS right after runs (MB, run:RSS): ${curve.map((c) => `${c.run}:${c.rssMb.toFixed(1)}`).join(' ')}`,
      `RSS after ${CURVE_IDLE / 1000} s idle (MB): ${curve
        .filter((c) => c.idleRssMb !== undefined)
        .map((c) => `${c.run}:${c.idleRssMb!.toFixed(1)}`)
        .join(' ')}`,
    ].join('\n');
    process.stdout.write(out + '\n');
    const resDir = resolve(import.meta.dirname, 'results');
    mkdirSync(resDir, { recursive: true });
    writeFileSync(join(resDir, `agent-${result.date.replace(/[:.]/g, '-')}.json`), JSON.stringify({ ...result, table: out }, null, 2) + '\n');
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
    if (!KEEP) await cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
