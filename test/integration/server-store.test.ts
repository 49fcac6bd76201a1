/**
 * The store, both ways: embedded PGlite in a state directory (migrations, retention,
 * status), and a real PostgreSQL (a throwaway cluster of our own) shared by two server
 * replicas that see each other's reports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { initCa } from '../../src/server/ca.js';
import { request } from '../../src/server/client.js';
import { openStore } from '../../src/server/store.js';
import { ServerSource } from '../../src/agent/server-source.js';
import { stateLayout } from '../../src/core/state-layout.js';
import type { Facts } from '../../src/facts/facts.js';
import { freePort, runCli } from '../support/harness.js';
import { operatorTls, startPostgres, startServer, tempDir, writeFleet, type PgCluster, type ServerProc } from '../support/server.js';

const work = tempDir('store');

afterAll(() => rmSync(work, { recursive: true, force: true }));

const report = (over: Record<string, unknown>) => ({
  formatVersion: 1,
  summary: { total: 1, unchanged: 1, changed: 0, pending: 0, failed: 0, skipped: 0 },
  resources: [],
  noop: false,
  ...over,
});

describe.each(['pglite', 'postgres'] as const)('store on %s', (kind) => {
  let pg: PgCluster | undefined;
  const dir = path.join(work, kind);
  beforeAll(async () => {
    if (kind === 'postgres') pg = await startPostgres();
  }, 60_000);
  afterAll(() => pg?.stop());

  it('migrates once, stores facts and reports, bounds history, derives status', async () => {
    const open = () => openStore({ dataDir: dir, database: pg?.url, retention: 3 });
    let store = await open();
    await store.putFacts('hs-n1', { hostname: 'hs-n1', os: { codename: 'bookworm' } });
    for (let i = 0; i < 5; i++) await store.addReport('hs-n1', report({ seq: i }));
    const cases: [Record<string, unknown>, string][] = [
      [report({ agent: { enabled: false, disabledReason: 'maintenance' } }), 'disabled'],
      [report({ summary: { failed: 1 } }), 'failed'],
      [report({ noop: true, summary: { pending: 2 } }), 'noop pending'],
      [report({ summary: { changed: 1 }, resources: [{ status: 'changed', cause: 'corrective' }] }), 'corrective change'],
      [report({ summary: { changed: 1 }, resources: [{ status: 'changed', cause: 'intentional' }] }), 'intentional change'],
      [report({ cachedCatalogue: true }), 'unchanged'],
    ];
    for (const [r, status] of cases) expect((await store.addReport('hs-n2', r)).status).toBe(status);
    await store.close();
    store = await open(); // migrations run again: nothing to do, data kept
    expect((await store.listReports('hs-n1', 100)).map((r) => (r.report as { seq: number }).seq)).toEqual([4, 3, 2]);
    expect((await store.getFacts('hs-n1'))?.facts).toEqual({ hostname: 'hs-n1', os: { codename: 'bookworm' } });
    const nodes = await store.listNodes(60_000);
    expect(nodes.find((n) => n.node === 'hs-n2')).toMatchObject({ status: 'unchanged', cachedCatalogue: true });
    expect((await store.listNodes(-1)).find((n) => n.node === 'hs-n1')!.status).toBe('unresponsive');
    await store.close();
  });

  it("keeps per node the last run's failed and changed counts and the times of the last change and the last failure; lists the fleet's newest reports", async () => {
    const store = await openStore({ dataDir: dir, database: pg?.url, retention: 3 });
    try {
      expect((await store.addReport('hs-t1', report({ summary: { changed: 2 }, resources: [{ status: 'changed', cause: 'intentional' }] }))).status).toBe(
        'intentional change',
      );
      const afterChange = (await store.listNodes(60_000)).find((n) => n.node === 'hs-t1')!;
      expect(afterChange).toMatchObject({ failed: 0, changed: 2 });
      expect(afterChange.lastChangeAt).toBeDefined();
      expect(afterChange.lastFailureAt).toBeUndefined();
      await store.addReport('hs-t1', report({ summary: { failed: 1, skipped: 2 } }));
      await store.addReport('hs-t1', report({ noop: true, summary: { pending: 1, changed: 0 } }));
      const n = (await store.listNodes(60_000)).find((x) => x.node === 'hs-t1')!;
      // The last run (a noop) failed and changed nothing; the last change and failure stay.
      expect(n).toMatchObject({ failed: 0, changed: 0, lastChangeAt: afterChange.lastChangeAt });
      expect(Date.parse(n.lastFailureAt!)).toBeGreaterThanOrEqual(Date.parse(afterChange.lastChangeAt!));
      // A noop run's pending changes are not a change.
      await store.addReport('hs-t2', report({ noop: true, summary: { changed: 1, pending: 1 } }));
      expect((await store.listNodes(60_000)).find((x) => x.node === 'hs-t2')!.lastChangeAt).toBeUndefined();
      const recent = await store.recentReports(4);
      expect(recent.map((r) => r.node)).toEqual(['hs-t2', 'hs-t1', 'hs-t1', 'hs-t1']);
      expect(recent[0]!.id).toBeGreaterThan(recent[1]!.id);
    } finally {
      await store.close();
    }
  });

  it('pages nodes by name with a cursor and worst first with an offset, filters in the store, counts from it (issue 31)', async () => {
    // A store of its own (PGlite: its own directory; PostgreSQL: a database of its own): only these nodes.
    let database: string | undefined;
    if (pg) {
      const { default: pgmod } = await import('pg');
      const c = new pgmod.Client({ connectionString: pg.url });
      await c.connect();
      try {
        await c.query('create database pages');
      } finally {
        await c.end();
      }
      database = pg.url.replace(/\/postgres$/, '/pages');
    }
    const store = await openStore({ dataDir: path.join(dir, 'pages'), database, retention: 3 });
    try {
      const names = Array.from({ length: 23 }, (_, i) => `hp-${String(i).padStart(2, '0')}`);
      for (const [i, n] of names.entries()) {
        if (i % 5 === 4) {
          await store.putFacts(n, { hostname: n });
          continue;
        } // never reported
        await store.addReport(
          n,
          report(
            i % 3 === 0
              ? { summary: { failed: i % 4 }, cachedCatalogue: true }
              : i % 3 === 1
                ? { summary: { changed: 1 }, resources: [{ status: 'changed', cause: 'corrective' }] }
                : {},
          ),
        );
      }
      await store.putFacts('hp_pct%', { hostname: 'x' }); // _ and % in a name filter are literal
      const all = await store.listNodes(60_000);
      // By name: pages of 10 follow the cursor to the end, each node once, in order.
      const seen: string[] = [];
      let after: string | undefined;
      let pages = 0;
      for (;;) {
        const p = await store.nodesPage({ unresponsiveAfterMs: 60_000, limit: 10, after });
        pages++;
        seen.push(...p.nodes.map((n) => n.node));
        expect(p.more).toBe(p.next !== undefined);
        if (!p.next) break;
        after = p.next;
      }
      expect(pages).toBe(3);
      expect(seen).toEqual(all.map((n) => n.node));
      expect((await store.nodesPage({ unresponsiveAfterMs: 60_000, limit: 10, after: 'hp-21' })).nodes.map((n) => n.node)).toEqual(['hp-22', 'hp_pct%']);
      // Worst first: the same order as the dashboard's sort of the full list, page after page.
      const { bySeverity } = await import('../../src/server/dashboard/fleet.js');
      const worst: string[] = [];
      for (let page = 0; ; page++) {
        const p = await store.nodesPage({ unresponsiveAfterMs: 60_000, limit: 7, order: 'severity', offset: page * 7 });
        worst.push(...p.nodes.map((n) => n.node));
        if (!p.more) break;
      }
      expect(worst).toEqual([...all].sort(bySeverity).map((n) => n.node));
      // Counts: as counting the full list; an unresponsive threshold moves every reported node.
      const counts = await store.countNodes(60_000);
      expect(counts.total).toBe(24);
      for (const s of ['failed', 'corrective change', 'never reported', 'unchanged'] as const)
        expect(counts.byStatus[s]).toBe(all.filter((n) => n.status === s).length);
      expect(counts.byStatus.failed).toBeGreaterThan(0);
      expect(counts.cached).toBe(all.filter((n) => n.cachedCatalogue).length);
      expect((await store.countNodes(-1)).byStatus).toMatchObject({
        unresponsive: 24 - counts.byStatus['never reported'],
        'never reported': counts.byStatus['never reported'],
      });
      // Filters: status, part of the name, cached.
      expect((await store.nodesPage({ unresponsiveAfterMs: 60_000, limit: 100, status: 'never reported' })).nodes.map((n) => n.node)).toEqual([
        'hp-04',
        'hp-09',
        'hp-14',
        'hp-19',
        'hp_pct%',
      ]);
      expect((await store.nodesPage({ unresponsiveAfterMs: 60_000, limit: 100, q: 'P_P' })).nodes.map((n) => n.node)).toEqual(['hp_pct%']);
      expect((await store.nodesPage({ unresponsiveAfterMs: 60_000, limit: 100, q: '%' })).nodes.map((n) => n.node)).toEqual(['hp_pct%']);
      expect((await store.nodesPage({ unresponsiveAfterMs: 60_000, limit: 100, cached: true })).nodes.every((n) => n.cachedCatalogue)).toBe(true);
      expect(await store.getNode('hp-03', 60_000)).toEqual(all.find((n) => n.node === 'hp-03'));
      expect(await store.getNode('hp-nope', 60_000)).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});

describe('two server replicas on one PostgreSQL', () => {
  let pg: PgCluster;
  const servers: ServerProc[] = [];
  const caDir = path.join(work, 'rep', 'ca');
  let fingerprint: string;
  beforeAll(async () => {
    pg = await startPostgres();
    const fleet = path.join(work, 'rep', 'fleet');
    writeFleet(fleet, 'replicated');
    fingerprint = (await initCa(caDir)).fingerprint;
    for (const [i, port] of [await freePort(), await freePort()].entries()) {
      servers.push(
        await startServer(
          [
            '--fleet',
            fleet,
            '--state-dir',
            path.join(work, 'rep', `state${i}`),
            '--ca-dir',
            caDir,
            '--database',
            pg.url,
            '--autosign',
            path.join(work, 'rep', 'policy'),
          ],
          port,
          { TSCONVERGE_SECRET_HS_TOKEN: 'replica-secret-value' },
        ),
      );
    }
  }, 120_000);
  afterAll(async () => {
    for (const s of servers) await s.stop();
    pg?.stop();
  });

  it('an agent given both URLs falls over to the second; each replica sees the reports sent to the other', async () => {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path.join(work, 'rep', 'policy'), 'hs-*\n');
    const state = path.join(work, 'rep-agent');
    const facts = { hostname: 'hs-r1', fqdn: 'hs-r1', os: { codename: 'bookworm' } } as unknown as Facts;
    const src = new ServerSource({
      servers: [servers[0]!.url, servers[1]!.url],
      node: 'hs-r1',
      stateDir: state,
      caFingerprint: fingerprint,
      connectTimeoutMs: 2000,
    });
    const first = await src.load(facts, new AbortController().signal);
    expect(first.cached).toBe(false);
    expect(await src.sendReport(report({ node: 'hs-r1', codeVersion: first.codeVersion }))).toBeUndefined();
    await servers[0]!.stop();
    const second = await src.load(facts, new AbortController().signal);
    expect(second.cached).toBe(false); // answered by the second replica
    const list = JSON.parse((await request(servers[1]!.url, 'v1/nodes', operatorTls(caDir))).body.toString());
    expect(list.nodes.find((n: { node: string }) => n.node === 'hs-r1')).toMatchObject({ status: 'unchanged', codeVersion: first.codeVersion });
    const tls = {
      ca: readFileSync(stateLayout(state).ssl('hs-r1').ca, 'utf8'),
      cert: readFileSync(stateLayout(state).ssl('hs-r1').cert, 'utf8'),
      key: readFileSync(stateLayout(state).ssl('hs-r1').key, 'utf8'),
    };
    expect(JSON.parse((await request(servers[1]!.url, 'v1/nodes/hs-r1/reports', tls)).body.toString()).reports).toHaveLength(1);
  });

  it("GET /v1/nodes answers a page of 1,000 with the cursor of the next and the fleet's counts; `tsconverge nodes` follows the pages (issue 31)", async () => {
    const store = await openStore({ dataDir: path.join(work, 'rep', 'unused'), database: pg.url });
    try {
      for (let i = 0; i < 1004; i++) await store.putFacts(`hs-many-${String(i).padStart(4, '0')}`, { hostname: 'x' });
    } finally {
      await store.close();
    }
    const first = JSON.parse((await request(servers[1]!.url, 'v1/nodes', operatorTls(caDir))).body.toString());
    expect(first.nodes).toHaveLength(1000);
    expect(first.counts).toMatchObject({ total: 1005, 'never reported': 1004, unchanged: 1 });
    const second = JSON.parse((await request(servers[1]!.url, `v1/nodes?after=${encodeURIComponent(first.next)}`, operatorTls(caDir))).body.toString());
    expect(second.next).toBeUndefined();
    expect([...first.nodes, ...second.nodes].map((n: { node: string }) => n.node)).toEqual([
      ...Array.from({ length: 1004 }, (_, i) => `hs-many-${String(i).padStart(4, '0')}`),
      'hs-r1',
    ]);
    expect((await request(servers[1]!.url, 'v1/nodes?limit=0', operatorTls(caDir))).status).toBe(400);
    const r = await runCli(['nodes', '--server', servers[1]!.url, '--ca-dir', caDir, '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.nodes).toHaveLength(1005);
    expect(r.json.next).toBeUndefined();
    const human = await runCli(['nodes', '--server', servers[1]!.url, '--ca-dir', caDir]);
    expect(human.stdout).toMatch(/hs-many-1003\s+never reported/);
  }, 120_000);
});

describe('the dashboard overview of a fleet over one page (issue 31)', () => {
  it('shows the counts of the whole fleet, one page of 500 worst first, page links that keep the filters, and filters in the store', async () => {
    const { createDashboard } = await import('../../src/server/dashboard/index.js');
    const { createFleetView } = await import('../../src/server/dashboard/fleet.js');
    const { CodeManager } = await import('../../src/server/code.js');
    const { nodeFacts } = await import('../support/server.js');
    const dir = path.join(work, 'dash-pages');
    const store = await openStore({ dataDir: dir });
    // No fleet code loaded: nodes are shown without environment and role.
    const code = new CodeManager({
      fleet: path.join(dir, 'no-fleet'),
      stateDir: dir,
      serverKeyPem: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      validationFacts: nodeFacts('x'),
    });
    const dash = await createDashboard({
      host: '127.0.0.1',
      port: 0,
      tokenFile: path.join(dir, 'dashboard.token'),
      fleet: createFleetView({ code, store, unresponsiveAfterMs: 60_000 }),
    });
    try {
      // 610 nodes: 600 unchanged, 10 failed (hd-f-*), none else.
      for (let i = 0; i < 600; i++) await store.addReport(`hd-u-${String(i).padStart(3, '0')}`, report({}));
      for (let i = 0; i < 10; i++) await store.addReport(`hd-f-${i}`, report({ summary: { failed: 1 } }));
      const token = readFileSync(path.join(dir, 'dashboard.token'), 'utf8').trim();
      const get = async (url: string): Promise<string> => {
        const r = await dash.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
        expect(r.statusCode, url).toBe(200);
        return r.body;
      };
      const rows = (page: string): string[] => [...page.matchAll(/<tr data-node="([^"]+)"/g)].map((m) => m[1]!);
      const first = await get('/');
      expect(first).toMatch(/data-count="failed">10</);
      expect(first).toMatch(/data-count="unchanged">600</);
      expect(rows(first)).toHaveLength(500);
      // Failed first, in the dashboard's order (the most recent failure first; equal times by name).
      const { bySeverity } = await import('../../src/server/dashboard/fleet.js');
      const failedNewestFirst = (await store.listNodes(60_000))
        .filter((n) => n.status === 'failed')
        .sort(bySeverity)
        .map((n) => n.node);
      expect([...failedNewestFirst].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `hd-f-${i}`));
      expect(rows(first).slice(0, 10)).toEqual(failedNewestFirst);
      expect(first).toContain('of 610 nodes shown (page 1 of 2');
      expect(first).toContain('href="/?page=1"');
      expect(first).not.toContain('rel="prev"');
      const second = await get('/?page=1');
      expect(rows(second)).toHaveLength(110);
      expect(new Set([...rows(first), ...rows(second)]).size).toBe(610);
      expect(second).toContain('href="/?page=0"');
      expect(second).not.toContain('rel="next"');
      const failed = await get('/?status=failed');
      expect(rows(failed)).toEqual(failedNewestFirst);
      expect(rows(await get('/?q=u-59'))).toEqual(Array.from({ length: 10 }, (_, i) => `hd-u-59${i}`));
      expect(rows(await get('/?status=nonsense'))).toEqual([]);
    } finally {
      await dash.close();
      await store.close();
    }
  }, 120_000);
});
