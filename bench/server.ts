/**
 * Catalogue server benchmark (issue 10). Loopback only, bounded in count and time.
 *
 *   npx tsx bench/server.ts [--nodes 10000] [--compile-workers N] [--agents 256] [--seconds 10] [--rate 3000] [--report-seconds 5] [--compile-only]
 *
 * 1. compile: NODES distinct node catalogues of examples/fleet (production), cold, through
 *    the server's own compile path as built (dist/: snapshot, validate, compile, serialise, sign), 64 in
 *    flight, on --compile-workers threads (default: one per core; 0: the main thread).
 * 2. warm 304s: a real server process (dist/, PGlite) on 127.0.0.1:18160; AGENTS simulated
 *    agents, each with its own enrolled certificate and keep-alive mutual TLS connection,
 *    request their catalogue with If-None-Match for SECONDS: requests/s and p50/p99.
 *    Then open loop: the same agents offer RATE requests/s together (each one every
 *    AGENTS/RATE s), latency counted from when each request was due.
 * 3. report ingestion: the same agents post run reports for REPORT_SECONDS: reports/s.
 * 4. server memory (VmRSS, VmHWM) after the load.
 * Then the nodes one server holds at a 30-minute interval: each node costs one 304
 * and one report per interval.
 */
import { spawn } from 'node:child_process';
import https from 'node:https';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { caPaths, initCa, createKeyAndCsr } from '../src/server/ca.js';
import { request } from '../src/server/client.js';
import { createFacts } from '../src/facts/facts.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const FLEET = path.join(ROOT, 'examples', 'fleet');
const PORT = 18160;
const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const NODES = arg('nodes', 10_000);
const AGENTS = arg('agents', 256);
const SECONDS = Math.min(arg('seconds', 10), 60);
const RATE = arg('rate', 3000);
const WORKERS = arg('compile-workers', availableParallelism());
const REPORT_SECONDS = Math.min(arg('report-seconds', 5), 60);
const ROLES = ['web', 'db', 'edge'];
const nodeName = (i: number): string => `${ROLES[i % 3]}-${String(i).padStart(5, '0')}`;
const log = (s: string): void => {
  process.stderr.write(`[bench:server] ${s}\n`);
};
const secretsEnv = Object.fromEntries(
  ['prod_shop_db_password', 'prod_db_password', 'stg_shop_db_password', 'stg_db_password'].map((s) => [
    `TSCONVERGE_SECRET_${s.toUpperCase()}`,
    'bench-dummy-secret-value',
  ]),
);

/** CPU seconds (user + system) a process has used so far: per-request cost that a busy shared machine does not distort. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

async function benchCompile(work: string): Promise<{
  nodes: number;
  workers: number;
  seconds: number;
  perSecond: number;
  cpuSeconds: number;
  perCpuSecond: number;
  rssMb: number;
  workerThreadCpuSeconds: number[];
  busiestThreadCpuSeconds: number;
  idleWallEstimateSeconds: number;
}> {
  const ca = await initCa(path.join(work, 'ca-compile'));
  // Compile workers read secrets from the environment they start with.
  Object.assign(process.env, secretsEnv);
  const facts = await createFacts('/', { docker: false });
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  // The built server (dist/, as `tsconverge server` runs it): its workers load plain JavaScript, not TypeScript through tsx.
  const { CodeManager } = (await import(path.join(ROOT, 'dist/server/code.js'))) as typeof import('../src/server/code.js');
  const code = new CodeManager({
    fleet: FLEET,
    stateDir: path.join(work, 'state-compile'),
    environment: 'production',
    serverKeyPem: readFileSync(caPaths(ca.dir).serverKey, 'utf8'),
    validationFacts: facts,
    cacheSize: 100,
    compileWorkers: WORKERS,
  });
  if (!(await code.reload())) throw new Error(`examples/fleet does not compile: ${code.lastError?.message}`);
  // As many compiles in flight as a burst of agents after a code update would cause.
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      for (let i = next++; i < NODES; i = next++) await code.compile(nodeName(i), { ...facts, hostname: nodeName(i) });
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpuSeconds = (c.user + c.system) / 1e6;
  const rssMb = process.memoryUsage().rss / 1e6;
  // CPU by thread (since this process started): on a machine shared with other work the wall
  // time is inflated, but a busy thread's CPU time is what its wall time would be alone.
  const threads = readdirSync('/proc/self/task').map((t) => {
    const st = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return { name: st.slice(st.indexOf('(') + 1, st.lastIndexOf(')')), cpu: (Number(f[11]) + Number(f[12])) / 100 };
  });
  const workerCpu = threads.filter((t) => t.name === 'WorkerThread').map((t) => t.cpu);
  // With workers the main thread's own CPU is mostly this process's start (tsx), not compiles.
  const busiest = Math.max(...threads.filter((t) => t.name !== 'MainThread' || WORKERS === 0).map((t) => t.cpu));
  await code.close();
  return {
    nodes: NODES,
    workers: WORKERS,
    seconds,
    perSecond: NODES / seconds,
    cpuSeconds,
    perCpuSecond: NODES / cpuSeconds,
    rssMb,
    workerThreadCpuSeconds: workerCpu,
    busiestThreadCpuSeconds: busiest,
    // The wall time on this machine alone: no less than the busiest thread, nor than all the CPU spread over every core.
    idleWallEstimateSeconds: Math.max(busiest, cpuSeconds / availableParallelism()),
  };
}

interface Agent {
  node: string;
  agent: https.Agent;
  etag?: string;
  facts?: Buffer;
}

function post(a: Agent, p: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; etag?: string; ms: number }> {
  // Bytes given are sent as they are (an agent's facts are serialised once: the generator's CPU is not the server's).
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: PORT,
        path: p,
        method: 'POST',
        agent: a.agent,
        headers: { 'content-type': 'application/json', 'content-length': payload.length, ...headers },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: res.headers.etag, ms: performance.now() - t0 }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(payload);
  });
}

async function loop(
  agents: Agent[],
  seconds: number,
  one: (a: Agent) => Promise<{ status: number; ms: number }>,
  want: number,
): Promise<{ requests: number; perSecond: number; p50: number; p99: number; errors: number }> {
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    agents.map(async (a) => {
      while (performance.now() < end) {
        try {
          const r = await one(a);
          if (r.status === want) lat.push(r.ms);
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((x, y) => x - y);
  return { requests: lat.length, perSecond: lat.length / elapsed, p50: pct(lat, 0.5), p99: pct(lat, 0.99), errors };
}

/**
 * Open loop: every agent sends one request each AGENTS/RATE seconds (random phase), so the
 * agents together offer RATE requests/s whatever the latency; a request's latency counts from
 * when it was due, so a server that falls behind shows it (no coordinated omission).
 */
async function paced(
  agents: Agent[],
  seconds: number,
  rate: number,
  one: (a: Agent) => Promise<{ status: number }>,
  want: number,
): Promise<{ requests: number; perSecond: number; p50: number; p99: number; max: number; errors: number }> {
  const lat: number[] = [];
  let errors = 0;
  const interval = (agents.length / rate) * 1000;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    agents.map(async (a) => {
      for (let due = t0 + Math.random() * interval; due < end; due += interval) {
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        try {
          const r = await one(a);
          if (r.status === want) lat.push(performance.now() - due);
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((x, y) => x - y);
  return { requests: lat.length, perSecond: lat.length / elapsed, p50: pct(lat, 0.5), p99: pct(lat, 0.99), max: lat[lat.length - 1] ?? 0, errors };
}

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'hs-bench-'));
  let server: ReturnType<typeof spawn> | undefined;
  try {
    log(`compile: ${NODES} node catalogues of examples/fleet, cold`);
    const compile = await benchCompile(work);
    log(
      `compile: ${compile.perSecond.toFixed(0)}/s (${compile.seconds.toFixed(2)} s wall, ${compile.perCpuSecond.toFixed(0)} per CPU-second, ${compile.workers} workers, busiest thread ${compile.busiestThreadCpuSeconds.toFixed(1)} CPU-s, alone ~${compile.idleWallEstimateSeconds.toFixed(1)} s wall, load ${readFileSync('/proc/loadavg', 'utf8').trim()})`,
    );
    if (process.argv.includes('--compile-only')) {
      process.stdout.write(JSON.stringify({ compile, loadAverage: readFileSync('/proc/loadavg', 'utf8').trim() }, null, 2) + '\n');
      return;
    }

    const caDir = path.join(work, 'ca');
    const ca = await initCa(caDir);
    writeFileSync(path.join(work, 'policy'), '*\n');
    server = spawn(
      process.execPath,
      [
        ...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
        path.join(ROOT, 'bin/tsconverge.js'),
        'server',
        '--fleet',
        FLEET,
        '--environment',
        'production',
        '--host',
        '127.0.0.1',
        '--port',
        String(PORT),
        '--state-dir',
        path.join(work, 'state'),
        '--ca-dir',
        caDir,
        '--autosign',
        path.join(work, 'policy'),
        '--log-level',
        'warn',
      ],
      { env: { ...process.env, ...secretsEnv }, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const tlsCa = ca.certPem;
    for (let i = 0; ; i++) {
      const up = await request(`https://127.0.0.1:${PORT}`, 'v1/health', { ca: tlsCa }, { connectTimeoutMs: 500, timeoutMs: 1000 }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (up) break;
      if (i > 300) throw new Error('server did not start');
      await new Promise((r) => setTimeout(r, 200));
    }
    log(`enrolling ${AGENTS} simulated agents`);
    const facts = await createFacts('/', { docker: false });
    const agents: Agent[] = [];
    for (let i = 0; i < AGENTS; i++) {
      const node = nodeName(i);
      const { keyPem, csrPem } = await createKeyAndCsr(node);
      const r = await request(`https://127.0.0.1:${PORT}`, `v1/certificate_requests/${node}`, { ca: tlsCa }, { method: 'PUT', json: { csr: csrPem } });
      const cert = (JSON.parse(r.body.toString()) as { certificate: string }).certificate;
      agents.push({ node, agent: new https.Agent({ keepAlive: true, maxSockets: 1, ca: tlsCa, cert, key: keyPem }) });
    }
    // As the agent sends them (src/agent/server-source.ts): without the uptime.
    const { uptimeSeconds: _uptime, ...agentFacts } = facts;
    const factsOf = (a: Agent): Buffer => (a.facts ??= Buffer.from(JSON.stringify({ facts: { ...agentFacts, hostname: a.node, fqdn: a.node } })));
    for (const a of agents) a.etag = (await post(a, `/v1/nodes/${a.node}/catalogue`, factsOf(a))).etag;
    log(`warm 304s: ${AGENTS} agents for ${SECONDS} s`);
    const cpu0 = cpuSeconds(server.pid!);
    const warm = await loop(agents, SECONDS, (a) => post(a, `/v1/nodes/${a.node}/catalogue`, factsOf(a), { 'if-none-match': a.etag! }), 304);
    const warmCpuMs = ((cpuSeconds(server.pid!) - cpu0) * 1000) / warm.requests;
    log(`warm 304s: server CPU ${warmCpuMs.toFixed(2)} ms per request`);
    log(`warm 304s: ${warm.perSecond.toFixed(0)}/s p50 ${warm.p50.toFixed(1)} ms p99 ${warm.p99.toFixed(1)} ms errors ${warm.errors}`);
    log(`warm 304s, open loop: ${AGENTS} agents offering ${RATE}/s for ${SECONDS} s`);
    const cpuP = cpuSeconds(server.pid!);
    const genP = process.cpuUsage();
    const open = await paced(agents, SECONDS, RATE, (a) => post(a, `/v1/nodes/${a.node}/catalogue`, factsOf(a), { 'if-none-match': a.etag! }), 304);
    const openCpuMs = ((cpuSeconds(server.pid!) - cpuP) * 1000) / open.requests;
    const g = process.cpuUsage(genP);
    const generatorCpuMs = (g.user + g.system) / 1000 / open.requests;
    log(
      `open loop: ${open.perSecond.toFixed(0)}/s p50 ${open.p50.toFixed(1)} ms p99 ${open.p99.toFixed(1)} ms errors ${open.errors}; server CPU ${openCpuMs.toFixed(2)} ms/request, load generator ${generatorCpuMs.toFixed(2)} ms/request; load ${readFileSync('/proc/loadavg', 'utf8').trim()}`,
    );
    const report = {
      formatVersion: 1,
      noop: false,
      summary: { total: 12, unchanged: 12, changed: 0, pending: 0, failed: 0, skipped: 0 },
      resources: Array.from({ length: 12 }, (_, i) => ({
        id: `file[f${i}]`,
        kind: 'file',
        name: `f${i}`,
        action: 'none',
        status: 'unchanged',
        changes: [],
        durationMs: 1,
      })),
      agent: { enabled: true },
      cachedCatalogue: false,
    };
    log(`report ingestion: ${AGENTS} agents for ${REPORT_SECONDS} s`);
    const cpu1 = cpuSeconds(server.pid!);
    const reports = await loop(agents, REPORT_SECONDS, (a) => post(a, `/v1/nodes/${a.node}/reports`, { ...report, node: a.node }), 201);
    const reportCpuMs = ((cpuSeconds(server.pid!) - cpu1) * 1000) / reports.requests;
    log(`reports: server CPU ${reportCpuMs.toFixed(2)} ms per report`);
    log(`reports: ${reports.perSecond.toFixed(0)}/s p99 ${reports.p99.toFixed(1)} ms errors ${reports.errors}`);
    const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
    const kb = (k: string): number => Number(/\d+/.exec(status.split('\n').find((l) => l.startsWith(k)) ?? '0')?.[0] ?? 0);
    const memory = { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
    for (const a of agents) a.agent.destroy();
    // One node per interval costs one 304 and one report.
    const perNodeSeconds = 1 / warm.perSecond + 1 / reports.perSecond;
    const nodesAt30min = Math.floor(1800 / perNodeSeconds);
    // From CPU cost alone, with both cores for the server (the load generator shares them here).
    const nodesAt30minByCpu = Math.floor((2 * 1800 * 1000) / (warmCpuMs + reportCpuMs));
    const out = {
      compile,
      warm304: { ...warm, serverCpuMs: warmCpuMs },
      warm304Paced: { offered: RATE, ...open, serverCpuMs: openCpuMs, generatorCpuMs },
      reports: { ...reports, serverCpuMs: reportCpuMs },
      memory,
      nodesAt30min,
      nodesAt30minByCpu,
      loadAverage: readFileSync('/proc/loadavg', 'utf8').trim(),
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    process.stdout.write(
      [
        '',
        '| measure | figure |',
        '|---|---|',
        `| compile, cold (${NODES} nodes, server path incl. signing, ${compile.workers} worker threads) | ${compile.perSecond.toFixed(0)} catalogues/s, ${compile.seconds.toFixed(1)} s wall; ${compile.perCpuSecond.toFixed(0)} per CPU-second (${compile.cpuSeconds.toFixed(1)} CPU-s); busiest thread ${compile.busiestThreadCpuSeconds.toFixed(1)} CPU-s: ~${compile.idleWallEstimateSeconds.toFixed(1)} s wall on this machine alone |`,
        `| warm 304 over mTLS, ${AGENTS} concurrent agents | ${warm.perSecond.toFixed(0)} req/s, p50 ${warm.p50.toFixed(1)} ms, p99 ${warm.p99.toFixed(1)} ms; server CPU ${warmCpuMs.toFixed(2)} ms/request |`,
        `| warm 304 over mTLS, ${AGENTS} agents offering ${RATE}/s (open loop) | ${open.perSecond.toFixed(0)} req/s answered, p50 ${open.p50.toFixed(1)} ms, p99 ${open.p99.toFixed(1)} ms, errors ${open.errors}; server CPU ${openCpuMs.toFixed(2)} ms/request (load generator ${generatorCpuMs.toFixed(2)} ms) |`,
        `| report ingestion (PGlite), ${AGENTS} concurrent | ${reports.perSecond.toFixed(0)} reports/s, p99 ${reports.p99.toFixed(1)} ms; server CPU ${reportCpuMs.toFixed(2)} ms/report |`,
        `| server memory after load | RSS ${memory.rssMb.toFixed(0)} MB, peak ${memory.peakMb.toFixed(0)} MB |`,
        `| nodes per server at a 30-minute interval | ${nodesAt30min.toLocaleString('en')} measured; ${nodesAt30minByCpu.toLocaleString('en')} from server CPU per node (2 cores) |`,
        `| load average during the run | ${out.loadAverage} |`,
        '',
      ].join('\n'),
    );
  } finally {
    server?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exitCode = 1;
});
