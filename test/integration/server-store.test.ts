/**
 * The store, both ways: embedded PGlite in a state directory (migrations, retention,
 * status), and a real PostgreSQL (a throwaway cluster of our own) shared by two server
 * replicas that see each other's reports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { initCa } from '../../src/server/ca.js';
import { request } from '../../src/server/client.js';
import { openStore } from '../../src/server/store.js';
import { ServerSource, sslPaths } from '../../src/agent/server-source.js';
import type { Facts } from '../../src/facts/facts.js';
import { freePort } from '../support/harness.js';
import { operatorTls, startPostgres, startServer, tempDir, writeFleet, type PgCluster, type ServerProc } from '../support/server.js';

const work = tempDir('store');

afterAll(() => rmSync(work, { recursive: true, force: true }));

const report = (over: Record<string, unknown>) => ({ formatVersion: 1, summary: { total: 1, unchanged: 1, changed: 0, pending: 0, failed: 0, skipped: 0 }, resources: [], noop: false, ...over });

describe.each(['pglite', 'postgres'] as const)('store on %s', (kind) => {
  let pg: PgCluster | undefined;
  const dir = path.join(work, kind);
  beforeAll(async () => { if (kind === 'postgres') pg = await startPostgres(); }, 60_000);
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

  it('keeps per node the last run\'s failed and changed counts and the times of the last change and the last failure; lists the fleet\'s newest reports', async () => {
    const store = await openStore({ dataDir: dir, database: pg?.url, retention: 3 });
    try {
      expect((await store.addReport('hs-t1', report({ summary: { changed: 2 }, resources: [{ status: 'changed', cause: 'intentional' }] }))).status).toBe('intentional change');
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
    } finally { await store.close(); }
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
      servers.push(await startServer(['--fleet', fleet, '--state-dir', path.join(work, 'rep', `state${i}`), '--ca-dir', caDir, '--database', pg.url, '--autosign', path.join(work, 'rep', 'policy')], port, { TSCONVERGE_SECRET_HS_TOKEN: 'replica-secret-value' }));
    }
  }, 120_000);
  afterAll(async () => { for (const s of servers) await s.stop(); pg?.stop(); });

  it('an agent given both URLs falls over to the second; each replica sees the reports sent to the other', async () => {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path.join(work, 'rep', 'policy'), 'hs-*\n');
    const state = path.join(work, 'rep-agent');
    const facts = { hostname: 'hs-r1', fqdn: 'hs-r1', os: { codename: 'bookworm' } } as unknown as Facts;
    const src = new ServerSource({ servers: [servers[0]!.url, servers[1]!.url], node: 'hs-r1', stateDir: state, caFingerprint: fingerprint, connectTimeoutMs: 2000 });
    const first = await src.load(facts, new AbortController().signal);
    expect(first.cached).toBe(false);
    expect(await src.sendReport(report({ node: 'hs-r1', codeVersion: first.codeVersion }))).toBeUndefined();
    await servers[0]!.stop();
    const second = await src.load(facts, new AbortController().signal);
    expect(second.cached).toBe(false); // answered by the second replica
    const list = JSON.parse((await request(servers[1]!.url, 'v1/nodes', operatorTls(caDir))).body.toString());
    expect(list.nodes.find((n: { node: string }) => n.node === 'hs-r1')).toMatchObject({ status: 'unchanged', codeVersion: first.codeVersion });
    const tls = { ca: readFileSync(sslPaths(state, 'hs-r1').ca, 'utf8'), cert: readFileSync(sslPaths(state, 'hs-r1').cert, 'utf8'), key: readFileSync(sslPaths(state, 'hs-r1').key, 'utf8') };
    expect(JSON.parse((await request(servers[1]!.url, 'v1/nodes/hs-r1/reports', tls)).body.toString()).reports).toHaveLength(1);
  });
});
