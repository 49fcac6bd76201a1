/**
 * Two server replicas on one real PostgreSQL (a throwaway cluster, test/support/server.ts)
 * that share the CA directory and the fleet tree agree on a rollout: one rollout for one
 * change whichever replica saw it first, a wave promoted by the reports sent to either, and
 * an operator's halt, promote and promote --all on one seen by the other; a replica without the
 * previous version's snapshot serves a node of a later wave nothing rather than the new version. Real agents
 * (`tsconverge agent --server ... --onetime`), files-only catalogues, own roots.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, runCli } from '../support/harness.js';
import { operatorTls, startPostgres, startServer, tempDir, type PgCluster, type ServerProc } from '../support/server.js';
import { reports } from '../support/agent.js';
import { rolloutStatus, untilRollout, writeRolloutFleet } from '../support/rollout.js';
import type { RolloutStatus } from '../../src/server/rollout.js';

const work = tempDir('i30-replicas');
const fleet = path.join(work, 'fleet');
const caDir = path.join(work, 'ca');
let pg: PgCluster;
const servers: ServerProc[] = [];
let fingerprint: string;
const nodes = ['i30-r0', 'i30-r1', 'i30-r2', 'i30-r3'].map((node) => ({ node, root: tempDir(`i30-root-${node}`), state: tempDir(`i30-state-${node}`) }));
type Node = (typeof nodes)[number];
const ROLLOUT =
  'waves:\n  - name: canary\n    nodes: ["i30-r0"]\n    bake: 1s\n  - name: half\n    percent: 50\n    bake: 1h\n  - name: all\n    bake: 1h\nhealth:\n  reportWithin: 10m\n';
const tls = () => operatorTls(caDir);
const status = (i: number): Promise<RolloutStatus> => rolloutStatus(servers[i]!.url, tls());

async function run(n: Node, i: number, url = servers[i]!.url): Promise<any> {
  const before = reports(n.state).length;
  const r = await runCli([
    'agent',
    '--server',
    url,
    '--ca-fingerprint',
    fingerprint,
    '--node',
    n.node,
    '--state-dir',
    n.state,
    '--root',
    n.root,
    '--connect-timeout',
    '5',
    '--onetime',
  ]);
  const all = reports(n.state);
  expect(all.length, r.stderr).toBeGreaterThan(before);
  return all[all.length - 1];
}
const motd = (n: Node): string => readFileSync(path.join(n.root, 'etc/motd'), 'utf8');
/** Both replicas' view, without what differs by design (each one's clock of the answer). */
const view = (s: RolloutStatus): unknown => ({ stable: s.stable, rollout: s.rollout, audit: s.audit.map((a) => [a.id, a.actor, a.action, a.rolloutId]) });

beforeAll(async () => {
  pg = await startPostgres();
  writeRolloutFleet(fleet, 'one', '', ROLLOUT);
  writeFileSync(path.join(work, 'autosign'), 'i30-*\n');
  const init = await runCli(['ca', 'init', '--ca-dir', caDir]);
  expect(init.code, init.stderr).toBe(0);
  fingerprint = /fingerprint: (sha256:[0-9a-f]{64})/.exec(init.stdout)![1]!;
  for (const [i, port] of [await freePort(), await freePort()].entries()) {
    servers.push(
      await startServer(
        [
          '--fleet',
          fleet,
          '--state-dir',
          path.join(work, `state${i}`),
          '--ca-dir',
          caDir,
          '--database',
          pg.url,
          '--autosign',
          path.join(work, 'autosign'),
          '--compile-workers',
          '0',
        ],
        port,
      ),
    );
  }
  for (const [k, n] of nodes.entries()) expect((await run(n, k % 2)).exitCode).toBe(2);
}, 300_000);

afterAll(async () => {
  for (const s of servers) await s.stop();
  pg?.stop();
  for (const d of [work, ...nodes.flatMap((n) => [n.root, n.state])]) rmSync(d, { recursive: true, force: true });
});

describe('two replicas on one PostgreSQL', () => {
  it("agree on the rollout, its waves and the operators' decisions", async () => {
    writeRolloutFleet(fleet, 'two', '', ROLLOUT);
    for (const s of servers) s.proc.kill('SIGHUP');
    const a = await untilRollout('replica 0 rolling', servers[0]!.url, tls(), (s) => s.rollout?.state === 'rolling');
    const b = await untilRollout(
      'replica 1 on the same rollout',
      servers[1]!.url,
      tls(),
      (s) => s.rollout?.id === a.rollout!.id && s.audit.some((x) => x.action === 'start'),
    );
    // One change, one rollout: whichever replica recorded it, the other found it recorded.
    expect(view(b)).toEqual(view(await status(0)));
    expect(b.audit.filter((x) => x.action === 'start')).toHaveLength(1);

    // The canary reports to replica 1; the wave is promoted (by either) and both say so.
    const canary = nodes[0]!;
    expect((await run(canary, 1)).codeVersion).toBe(a.rollout!.to);
    const promoted = await untilRollout('the canary wave promoted', servers[0]!.url, tls(), (s) => s.rollout!.wave === 1);
    await untilRollout('replica 1 sees wave 1', servers[1]!.url, tls(), (s) => s.rollout!.wave === 1);
    expect(view(await status(1))).toEqual(view(await status(0)));
    // A node of the last wave is served the previous version by either replica.
    const last = nodes.find((n) => promoted.rollout!.waves[2]!.nodes.some((x) => x.node === n.node))!;
    for (const i of [0, 1]) expect((await run(last, i)).codeVersion).toBe(a.rollout!.from);
    expect(motd(last)).toBe('one\n');

    // A third replica started now, with a state directory of its own, never had the previous
    // version: it refuses (503) to serve that node anything else, and the agent runs its cache.
    const late = await startServer(
      ['--fleet', fleet, '--state-dir', path.join(work, 'state-late'), '--ca-dir', caDir, '--database', pg.url, '--compile-workers', '0'],
      await freePort(),
    );
    try {
      expect(view(await rolloutStatus(late.url, tls()))).toEqual(view(await status(0)));
      const cached = await run(last, 2, late.url);
      expect(cached).toMatchObject({ cachedCatalogue: true, codeVersion: a.rollout!.from });
      expect(cached.catalogueError.message).toMatch(/answered 503/);
      expect(motd(last)).toBe('one\n');
      expect((await run(canary, 2, late.url)).codeVersion).toBe(a.rollout!.to);
    } finally {
      await late.stop();
    }

    // An operator halts on replica 0; replica 1 serves by it. Promote on replica 1 resumes it.
    const halt = await runCli(['rollout', 'halt', '--server', servers[0]!.url, '--ca-dir', caDir]);
    expect(halt.code, halt.stderr).toBe(0);
    await untilRollout('replica 1 sees the halt', servers[1]!.url, tls(), (s) => s.rollout!.state === 'halted');
    const promote = await runCli(['rollout', 'promote', '--server', servers[1]!.url, '--ca-dir', caDir, '--format', 'json']);
    expect(promote.code, promote.stderr).toBe(0);
    expect(promote.json.rollout).toMatchObject({ state: 'rolling', wave: 2 });
    await untilRollout('replica 0 sees wave 2', servers[0]!.url, tls(), (s) => s.rollout!.wave === 2 && s.rollout!.state === 'rolling');
    expect((await run(last, 0)).codeVersion).toBe(a.rollout!.to);
    expect(motd(last)).toBe('two\n');

    const all = await runCli(['rollout', 'promote', '--all', '--server', servers[0]!.url, '--ca-dir', caDir]);
    expect(all.code, all.stderr).toBe(0);
    const done = await untilRollout('replica 1 sees it done', servers[1]!.url, tls(), (s) => s.rollout!.state === 'done');
    expect(done.stable).toBe(a.rollout!.to);
    expect(done.audit.slice(0, 3).map((x) => `${x.actor} ${x.action}`)).toEqual([
      'operator:operator promote-all',
      'operator:operator promote',
      'operator:operator halt',
    ]);
    expect(view(await status(0))).toEqual(view(done));
  }, 600_000);
});
