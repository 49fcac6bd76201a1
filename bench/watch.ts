/**
 * The watching agent's benchmarks (issue 29), never timed tests:
 *
 * 1. Repair latency: `docker rm -f` of a managed container -> the container of that name
 *    running again (polled on the engine API every 20 ms), over N trials; median and p99.
 *    Measured with the default debounce (2 s) and with a short one (--short-debounce),
 *    the rate limit opened wide (--watch-burst/--watch-max) so every trial gets its run.
 * 2. Idle cost of a watching agent: CPU seconds (utime + stime of the agent process, from
 *    /proc/<pid>/stat) over --idle seconds with nothing happening to its resources (the
 *    shared engine's other events still arrive and are filtered), and its resident memory
 *    (VmRSS) at the end.
 * 3. Event handling cost: the agent's CPU time per engine event on objects it does not
 *    manage (containers started and removed next to it), which every watching agent pays.
 *
 *   npx tsc -p tsconfig.json && scripts/with-node npx tsx bench/watch.ts [--trials 50] [--idle 600] [--noise 20] [--short-debounce 200ms] [--in-process] [--latency-only]
 *
 * Results: stdout and bench/results/watch-<date>.json (gitignored). Everything it makes
 * carries the label tsconverge-test=i29-bench and the name prefix i29-bench-, removed at the end.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';

const REPO = path.resolve(import.meta.dirname, '..');
const BIN = path.join(REPO, 'bin/tsconverge.js');
const LABEL = 'tsconverge-test=i29-bench';
const SOCKET = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice(7) : '/var/run/docker.sock';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}
const TRIALS = Number(arg('trials', '50'));
const IDLE_S = Number(arg('idle', '600'));
const NOISE = Number(arg('noise', '20'));
const SHORT = arg('short-debounce', '200ms');
/** --in-process: the agent runs its runs in its own process (no process start per run). */
const IN_PROCESS = process.argv.includes('--in-process') ? ['--in-process'] : [];
/** --latency-only: skip the idle and per-event measures. */
const LATENCY_ONLY = process.argv.includes('--latency-only');

const docker = (...a: string[]): string => execFileSync('docker', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

function state(name: string): Promise<string | null> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: SOCKET, path: `/containers/${name}/json`, headers: { Host: 'docker' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => {
        if (res.statusCode !== 200) {
          resolve(null);
          return;
        }
        try {
          resolve((JSON.parse(body) as { State: { Status: string } }).State.Status);
        } catch {
          resolve(null);
        }
      });
    });
    req.on('error', () => resolve(null));
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, pollMs = 20): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks (100 Hz)
}
const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

const pct = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};

interface Agent {
  child: ChildProcess;
  log: () => string;
  stop(): Promise<void>;
}

function startAgent(dir: string, manifest: string, extra: string[]): Agent {
  const child = spawn(
    process.execPath,
    [BIN, 'agent', '--manifests', manifest, '--root', path.join(dir, 'root'), '--state-dir', path.join(dir, 'state'), '--interval', '1h', ...extra],
    { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (d) => {
    log += d;
  });
  return {
    child,
    log: () => log,
    stop: () =>
      new Promise((r) => {
        child.once('exit', () => r());
        child.kill('SIGTERM');
      }),
  };
}

function manifest(dir: string, n: number): string {
  const res =
    Array.from(
      { length: n },
      (_, i) => `  - kind: docker.container
    name: i29-bench-c${i}
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: i29-bench }
    stopTimeout: 1
`,
    ).join('') +
    Array.from(
      { length: 5 },
      (_, i) => `  - kind: file
    name: f${i}
    path: /etc/i29-bench/f${i}.conf
    content: "x=${i}\\n"
`,
    ).join('');
  const file = path.join(dir, 'manifest.yaml');
  writeFileSync(file, `resources:\n${res}`);
  return file;
}

async function latency(dir: string, m: string, debounce: string): Promise<number[]> {
  rmSync(path.join(dir, 'state'), { recursive: true, force: true });
  const a = startAgent(dir, m, ['--watch-debounce', debounce, '--watch-burst', '100000', '--watch-max', '100000', '--watch-every', '1s', ...IN_PROCESS]);
  try {
    await until('the engine events subscribed', () => (a.log().includes('watch: engine events subscribed') ? true : undefined), 60_000);
    await until('the run at start', () => (a.log().includes('(start): run') ? true : undefined), 120_000);
    const out: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const before = docker('inspect', '--format', '{{.Id}}', 'i29-bench-c0');
      const t0 = performance.now();
      docker('rm', '-f', 'i29-bench-c0');
      await until(
        'the container running again',
        async () => {
          if ((await state('i29-bench-c0')) !== 'running') return undefined;
          return docker('inspect', '--format', '{{.Id}}', 'i29-bench-c0') !== before ? true : undefined;
        },
        60_000,
      );
      out.push((performance.now() - t0) / 1000);
      process.stderr.write(`  ${debounce}: trial ${i + 1}/${TRIALS}: ${out[i]!.toFixed(2)} s\n`);
      // The event run is over (its report written) before the next trial.
      await until('the run finished', () => (a.log().split('corrective: docker.container[i29-bench-c0]').length - 1 >= i + 1 ? true : undefined), 60_000);
    }
    return out;
  } catch (err) {
    process.stderr.write(a.log());
    throw err;
  } finally {
    await a.stop();
  }
}

async function idle(dir: string, m: string): Promise<{ cpuSeconds: number; cpuPercent: number; rssMb: number; perEventMs: number; noiseEvents: number }> {
  rmSync(path.join(dir, 'state'), { recursive: true, force: true });
  const a = startAgent(dir, m, []);
  try {
    await until('the engine events subscribed', () => (a.log().includes('watch: engine events subscribed') ? true : undefined), 60_000);
    await until('the run at start', () => (a.log().includes('(start): run') ? true : undefined), 120_000);
    await new Promise((r) => setTimeout(r, 3000)); // the run at start's garbage collected
    const pid = a.child.pid!;
    const c0 = cpuSeconds(pid);
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const c1 = cpuSeconds(pid);
    const rss = rssMb(pid);
    // Events on objects it does not manage: NOISE containers started and removed (create, start, die, destroy, network connect/disconnect: 6 events each).
    const n0 = cpuSeconds(pid);
    for (let i = 0; i < NOISE; i++) docker('run', '--rm', '--label', LABEL, '--name', `i29-bench-noise-${i}`, 'local/busybox:1', 'sleep', '0');
    await new Promise((r) => setTimeout(r, 1000));
    const n1 = cpuSeconds(pid);
    const events = NOISE * 6;
    return { cpuSeconds: c1 - c0, cpuPercent: ((c1 - c0) / IDLE_S) * 100, rssMb: rss, perEventMs: ((n1 - n0) / events) * 1000, noiseEvents: events };
  } finally {
    await a.stop();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'i29-bench-'));
  mkdirSync(path.join(dir, 'root'), { recursive: true });
  const m = manifest(dir, 10);
  try {
    const slow = await latency(dir, m, '2s');
    process.stderr.write(`repair with the default debounce (2s): median ${pct(slow, 0.5).toFixed(2)} s, p99 ${pct(slow, 0.99).toFixed(2)} s\n`);
    const fast = await latency(dir, m, SHORT);
    process.stderr.write(`repair with --watch-debounce ${SHORT}: median ${pct(fast, 0.5).toFixed(2)} s, p99 ${pct(fast, 0.99).toFixed(2)} s\n`);
    const quiet = LATENCY_ONLY ? undefined : await idle(dir, m);
    const result = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, load: loadavg() },
      trials: TRIALS,
      idleSeconds: IDLE_S,
      runner: IN_PROCESS.length ? 'in-process' : 'process per run',
      repair: {
        debounce2s: { median: pct(slow, 0.5), p99: pct(slow, 0.99), max: Math.max(...slow) },
        [`debounce${SHORT}`]: { median: pct(fast, 0.5), p99: pct(fast, 0.99), max: Math.max(...fast) },
      },
      idle: quiet,
    };
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    const outDir = path.join(REPO, 'bench/results');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, `watch-${result.date.replace(/[:.]/g, '-')}.json`), JSON.stringify({ ...result, raw: { slow, fast } }, null, 2) + '\n');
  } finally {
    const ids = docker('ps', '-aq', '--filter', `label=${LABEL}`);
    if (ids) docker('rm', '-f', ...ids.split('\n'));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
