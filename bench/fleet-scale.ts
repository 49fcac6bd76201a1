/**
 * Fleet scale (issue 31): a server holding N hosts with a week of their history, on
 * loopback only. Bounded: everything lives in a throwaway PostgreSQL cluster (Debian's
 * PostgreSQL 15, as the tests start one) and a temp directory, both removed at the end.
 *
 *   npx tsx bench/fleet-scale.ts [--nodes 10000] [--retention 100] [--ingest 2000] [--repeats 5]
 *
 * 1. The store's own path (store.addReport through openStore, trimming included): `--ingest`
 *    reports, reports per second.
 * 2. The fill: N distinct nodes (names web-/db-/edge-NNNNNN, three roles, distinct facts and
 *    addresses) and a week of reports at a 30-minute interval (336 per node) with the
 *    default retention: the store keeps the newest `retention` (100) of each node, so the
 *    fill writes those directly in SQL (the state a week of addReport calls leaves), not
 *    336 x N calls nor N TLS enrolments. Statuses: 1 in 97 failed, 1 in 13 corrective.
 * 3. A real `tsconverge server` process on that database with its dashboard: cold start
 *    to "listening", then time to first byte (median of `--repeats`) of GET /v1/nodes (one
 *    page of 1,000), all its pages, the dashboard overview (page 1, and ?status=failed), a
 *    host page, a host's full report history (GET /v1/nodes/NAME/reports?limit=1000),
 *    the server's RSS (VmRSS, VmHWM), and the database's size per host.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir, loadavg, cpus } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { initCa } from '../src/server/ca.js';
import { openStore } from '../src/server/store.js';
import { freePort } from '../test/support/harness.js';
import { operatorTls, startPostgres, startServer, writeFleet } from '../test/support/server.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(name);
  return i < 0 ? def : Number(process.argv[i + 1]);
};
const N = arg('--nodes', 10_000);
const RETENTION = arg('--retention', 100);
const INGEST = arg('--ingest', 2000);
const REPEATS = arg('--repeats', 5);
const INTERVAL_MIN = 30;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number): string => `${x.toFixed(0)} ms`;
const mb = (x: number): string => `${(x / 1e6).toFixed(0)} MB`;
const say = (s: string): void => {
  process.stderr.write(`[fleet-scale ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
};

/** First byte (response headers) and the whole body, in ms. */
function timeGet(url: string, opts: https.RequestOptions): Promise<{ ttfb: number; total: number; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const req = (url.startsWith('https:') ? https : http).get(url, opts, (res) => {
      const ttfb = performance.now() - t;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ ttfb, total: performance.now() - t, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function measure(label: string, url: string, opts: https.RequestOptions, rows: string[][]): Promise<string> {
  const runs: { ttfb: number; total: number; status: number; body: string }[] = [];
  for (let i = 0; i < REPEATS; i++) runs.push(await timeGet(url, opts));
  if (runs[0]!.status !== 200) throw new Error(`${label}: HTTP ${runs[0]!.status}: ${runs[0]!.body.slice(0, 300)}`);
  rows.push([label, ms(median(runs.map((r) => r.ttfb))), ms(median(runs.map((r) => r.total))), `${(runs[0]!.body.length / 1024).toFixed(0)} KiB`]);
  return runs[0]!.body;
}

const work = mkdtempSync(path.join(tmpdir(), 'i31-fleet-'));
const cluster = await startPostgres();
let server: Awaited<ReturnType<typeof startServer>> | undefined;
const out: string[] = [];
try {
  // Migrations, then the store's own ingestion path on a few nodes of their own.
  const store = await openStore({ database: cluster.url, dataDir: work, retention: RETENTION });
  const body = (node: string, i: number): Record<string, unknown> => ({
    formatVersion: 1,
    node,
    noop: false,
    codeVersion: 'sha256:c0de',
    catalogueDigest: `sha256:${i}`,
    agent: { enabled: true },
    summary: { total: 20, unchanged: 20, changed: 0, pending: 0, failed: 0, skipped: 0 },
    resources: Array.from({ length: 20 }, (_, r) => ({ id: `file[/etc/app/conf-${r}.yaml]`, kind: 'file', status: 'unchanged', durationMs: 1 })),
  });
  let t = performance.now();
  const cpu = process.cpuUsage();
  const inFlight = 16;
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < INGEST) {
        const i = next++;
        await store.addReport(`ingest-${i % 200}`, body(`ingest-${i % 200}`, i));
      }
    }),
  );
  const ingestS = (performance.now() - t) / 1000;
  const ingestCpu = process.cpuUsage(cpu);
  out.push(
    `store.addReport into PostgreSQL, ${INGEST} reports of 200 nodes, ${inFlight} in flight: ${(INGEST / ingestS).toFixed(0)}/s (${((ingestCpu.user + ingestCpu.system) / 1000 / INGEST).toFixed(2)} ms client CPU each)`,
  );
  await store.close();
  say(`ingestion measured; filling ${N} nodes with ${RETENTION} reports each`);

  const db = new pg.Client({ connectionString: cluster.url });
  await db.connect();
  await db.query(`delete from reports; delete from nodes`);
  const template = JSON.stringify(body('x', 0).resources);
  t = performance.now();
  const CHUNK = 1000;
  for (let from = 0; from < N; from += CHUNK) {
    const to = Math.min(N, from + CHUNK) - 1;
    await db.query(
      `insert into nodes (name, facts, facts_at, last_seen, last_report_at, status, cached_catalogue, catalogue_digest, code_version, last_failed, last_changed, last_change_at, last_failure_at)
      select (array['web','db','edge'])[1 + i % 3] || '-' || lpad(i::text, 6, '0'),
        jsonb_build_object('hostname', (array['web','db','edge'])[1 + i % 3] || '-' || lpad(i::text, 6, '0'), 'fqdn', (array['web','db','edge'])[1 + i % 3] || '-' || lpad(i::text, 6, '0') || '.example.net',
          'os', jsonb_build_object('family','debian','name','Debian','version','12','id','debian','codename','bookworm','prettyName','Debian GNU/Linux 12 (bookworm)'),
          'kernel', jsonb_build_object('release','6.1.0-' || (i % 30) || '-amd64','arch','x86_64'), 'cpus', 2 + i % 14, 'memoryBytes', (4 + i % 60)::bigint * 1073741824,
          'primaryIPv4', '10.' || (i / 65536) || '.' || ((i / 256) % 256) || '.' || (i % 256),
          'interfaces', jsonb_build_object('eth0', jsonb_build_object('mac', md5(i::text), 'ipv4', jsonb_build_array('10.' || (i / 65536) || '.' || ((i / 256) % 256) || '.' || (i % 256)))),
          'uptimeSeconds', i * 37 % 9999999, 'systemd', true, 'container', false, 'docker', jsonb_build_object('version', '20.10.24')),
        now(), now() - (i % 1800) * interval '1 second', now() - (i % 1800) * interval '1 second',
        case when i % 97 = 0 then 'failed' when i % 13 = 0 then 'corrective change' else 'unchanged' end, false, 'sha256:' || md5(i::text), 'sha256:c0de',
        case when i % 97 = 0 then 1 else 0 end, case when i % 13 = 0 then 1 else 0 end,
        case when i % 13 = 0 then now() - interval '3 hours' end, case when i % 97 = 0 then now() - (i % 1800) * interval '1 second' end
      from generate_series($1::int, $2::int) i`,
      [from, to],
    );
    await db.query(
      `insert into reports (node, received_at, status, report)
      select n.name, n.last_report_at - k * interval '${INTERVAL_MIN} minutes', case when k = 0 then n.status else 'unchanged' end,
        jsonb_build_object('formatVersion', 1, 'node', n.name, 'noop', false, 'codeVersion', 'sha256:c0de', 'catalogueDigest', n.catalogue_digest, 'agent', jsonb_build_object('enabled', true),
          'durationMs', 300 + k, 'summary', jsonb_build_object('total', 20, 'unchanged', 20, 'changed', 0, 'pending', 0, 'failed', 0, 'skipped', 0), 'resources', $3::jsonb)
      from nodes n cross join generate_series(${RETENTION - 1}, 0, -1) k
      where n.name = any(select (array['web','db','edge'])[1 + i % 3] || '-' || lpad(i::text, 6, '0') from generate_series($1::int, $2::int) i)`,
      [from, to, template],
    );
    if ((from / CHUNK) % 10 === 0) say(`${to + 1} nodes filled (${((performance.now() - t) / 1000).toFixed(0)} s)`);
  }
  await db.query('vacuum analyze nodes');
  await db.query('vacuum analyze reports');
  const fillS = (performance.now() - t) / 1000;
  const size = (
    await db.query<{ db: string; reports: string; nodes: string }>(
      `select pg_database_size(current_database()) as db, pg_total_relation_size('reports') as reports, pg_total_relation_size('nodes') as nodes`,
    )
  ).rows[0]!;
  const counts = (await db.query<{ n: string }>('select count(*) as n from reports')).rows[0]!;
  await db.end();
  out.push(
    `fill: ${N} nodes, ${Number(counts.n)} reports (a week at ${INTERVAL_MIN} min = ${(7 * 24 * 60) / INTERVAL_MIN} per node, ${RETENTION} kept) in ${fillS.toFixed(0)} s of SQL`,
  );
  out.push(
    `database: ${mb(Number(size.db))} in all; reports ${mb(Number(size.reports))}, nodes (with facts) ${mb(Number(size.nodes))}; per host ${(Number(size.db) / N / 1024).toFixed(0)} KiB`,
  );

  // A real server on that database, with its dashboard.
  const fleet = path.join(work, 'fleet');
  writeFleet(fleet, 'fleet-scale');
  const caDir = path.join(work, 'ca');
  await initCa(caDir);
  const dashPort = await freePort();
  const port = await freePort();
  t = performance.now();
  server = await startServer(
    ['--fleet', fleet, '--state-dir', path.join(work, 'state'), '--ca-dir', caDir, '--database', cluster.url, '--dashboard', `127.0.0.1:${dashPort}`],
    port,
    { TSCONVERGE_SECRET_HS_TOKEN: 'fleet-scale' },
  );
  out.push(`server cold start on that database to "listening": ${ms(performance.now() - t)}`);
  for (let i = 0; i < 100 && !/dashboard on/.test(server.log()); i++) await new Promise((r) => setTimeout(r, 100));
  const tls = operatorTls(caDir);
  const mtls: https.RequestOptions = { ca: tls.ca, cert: tls.cert, key: tls.key };
  const token = readFileSync(path.join(work, 'state', 'dashboard.token'), 'utf8').trim();
  const bearer: https.RequestOptions = { headers: { authorization: `Bearer ${token}` } };
  const dash = `http://127.0.0.1:${dashPort}`;
  const rows: string[][] = [];
  const first = JSON.parse(await measure('GET /v1/nodes (first page of 1,000, counts)', `${server.url}/v1/nodes`, mtls, rows)) as {
    nodes: unknown[];
    next?: string;
    counts: Record<string, number>;
  };
  if (first.counts.total !== N) throw new Error(`GET /v1/nodes counts ${first.counts.total} nodes, not ${N}`);
  await measure(
    'GET /v1/nodes?after=... (a middle page)',
    `${server.url}/v1/nodes?after=${encodeURIComponent('edge-' + String(Math.floor(N / 2)).padStart(6, '0'))}`,
    mtls,
    rows,
  );
  t = performance.now();
  let pages = 0;
  let seen = 0;
  for (let after: string | undefined; ;) {
    const r = await timeGet(`${server.url}/v1/nodes${after ? `?after=${encodeURIComponent(after)}` : ''}`, mtls);
    const b = JSON.parse(r.body) as { nodes: unknown[]; next?: string };
    pages++;
    seen += b.nodes.length;
    if (!b.next) break;
    after = b.next;
  }
  if (seen !== N) throw new Error(`pages of GET /v1/nodes held ${seen} nodes, not ${N}`);
  rows.push([`all ${pages} pages of GET /v1/nodes (what tsconverge nodes reads)`, '', ms(performance.now() - t), '']);
  const overview = await measure('dashboard overview (page 1 of the worst first)', `${dash}/`, bearer, rows);
  if (!overview.includes(`of ${N} nodes shown`)) throw new Error('the overview does not count the whole fleet');
  await measure('dashboard overview ?status=failed', `${dash}/?status=failed`, bearer, rows);
  await measure('dashboard overview, last page', `${dash}/?page=${Math.floor((N - 1) / 500)}`, bearer, rows);
  await measure('dashboard overview ?q=edge-0001 (a name filter)', `${dash}/?q=edge-0001`, bearer, rows);
  const host = `web-${String(3 * Math.floor(N / 6)).padStart(6, '0')}`;
  await measure(`dashboard host page (${host}, its newest 30 runs)`, `${dash}/nodes/${host}`, bearer, rows);
  await measure(`GET /v1/nodes/${host}/reports?limit=1000 (its whole history)`, `${server.url}/v1/nodes/${host}/reports?limit=1000`, mtls, rows);
  await measure(`GET /v1/nodes/${host}/status`, `${server.url}/v1/nodes/${host}/status`, mtls, rows);
  const status = readFileSync(`/proc/${server.proc.pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  const w = Math.max(...rows.map((r) => r[0]!.length));
  out.push(`  ${'request'.padEnd(w)}  ${'first byte'.padStart(10)}  ${'whole'.padStart(9)}  body`);
  for (const r of rows) out.push(`  ${r[0]!.padEnd(w)}  ${r[1]!.padStart(10)}  ${r[2]!.padStart(9)}  ${r[3]}`);
  out.push(`server RSS after these requests: ${mb(kb('VmRSS'))} (peak ${mb(kb('VmHWM'))})`);
} finally {
  await server?.stop();
  cluster.stop();
  rmSync(work, { recursive: true, force: true });
}
console.log(
  `fleet scale, ${N} nodes, ${new Date().toISOString()}, node ${process.version}, ${cpus().length} cores, load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}, PostgreSQL 15 (a throwaway cluster, fsync off)`,
);
for (const l of out) console.log(l);
