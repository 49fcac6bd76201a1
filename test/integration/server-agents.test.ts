/**
 * The server walk-through (docs/server.md) with real processes: `tsconverge ca init`, `tsconverge server`,
 * two agents (`tsconverge agent --server`) with their own roots enrolling, a changed fleet
 * value reaching both at their next run, `tsconverge nodes`, and the server killed: the
 * agents run on their cached catalogue and say so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, readdirSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, runCli, freePort } from '../support/harness.js';
import { startServer, tempDir, type ServerProc } from '../support/server.js';

const PORT = await freePort();
const work = tempDir('agents');
const fleet = path.join(work, 'fleet');
const state = path.join(work, 'server');
const url = `https://127.0.0.1:${PORT}`;
let server: ServerProc;
let fingerprint: string;
const nodes = ['hs-w1', 'hs-w2'].map((node) => ({ node, root: tempDir(`aroot-${node}`), state: tempDir(`astate-${node}`) }));
/** One run of the real agent (`tsconverge agent --server ... --onetime`); its run report is read from its state dir. */
async function agent(n: (typeof nodes)[number], ...extra: string[]) {
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
    '2',
    '--onetime',
    ...extra,
  ]);
  const dir = path.join(n.state, 'reports');
  const newest = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .pop()
    : undefined;
  return { ...r, json: newest ? JSON.parse(readFileSync(path.join(dir, newest), 'utf8')) : undefined };
}

/** examples/server-fleet (the walk-through's fleet) with its greeting set to `message`. */
function writeFleet(dir: string, message: string): void {
  cpSync(path.join(REPO, 'examples/server-fleet'), dir, { recursive: true });
  writeFileSync(path.join(dir, 'data/common.yaml'), `motd:\n  message: ${message}\n`);
}
const motd = (n: (typeof nodes)[number]): string => readFileSync(path.join(n.root, 'etc/motd'), 'utf8');

beforeAll(async () => {
  writeFleet(fleet, 'first value');
  const init = await runCli(['ca', 'init', '--state-dir', state]);
  expect(init.code, init.stderr).toBe(0);
  fingerprint = /fingerprint: (sha256:[0-9a-f]{64})/.exec(init.stdout)![1]!;
  server = await startServer(['--fleet', fleet, '--state-dir', state, '--watch'], PORT, { TSCONVERGE_SECRET_HS_TOKEN: 'agents-secret-value' });
}, 180_000);

afterAll(async () => {
  await server?.stop();
  for (const d of [work, ...nodes.flatMap((n) => [n.root, n.state])]) rmSync(d, { recursive: true, force: true });
});

describe('two agents and a server, as processes', () => {
  it('an unsigned agent exits 1 and changes nothing; after `ca sign` it converges', async () => {
    for (const n of nodes) {
      const r = await agent(n);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr + JSON.stringify(r.json)).toMatch(/not signed yet/);
      expect(existsSync(path.join(n.root, 'etc'))).toBe(false);
      expect((await runCli(['ca', 'sign', n.node, '--state-dir', state])).code).toBe(0);
    }
    for (const n of nodes) {
      const r = await agent(n);
      expect(r.code, r.stderr).toBe(2);
      expect(r.json.cachedCatalogue).toBe(false);
      expect(motd(n)).toBe(`first value\nThis is ${n.node}; questions to ops@example.org.\n`);
    }
  });

  it('a changed fleet value reaches both agents at their next run (--watch)', async () => {
    writeFileSync(path.join(fleet, 'data/common.yaml'), 'motd:\n  message: second value\n');
    for (let i = 0; i < 100 && server.log().split('serving fleet code').length < 3; i++) await new Promise((r) => setTimeout(r, 100));
    for (const n of nodes) {
      const r = await agent(n);
      expect(r.code, r.stderr).toBe(2);
      expect(motd(n)).toMatch(/^second value\n/);
      expect(r.json.resources.find((x: { id: string }) => x.id === 'file[motd]').cause).toBe('intentional');
      expect((await agent(n)).code).toBe(0);
    }
  });

  it('`tsconverge nodes` lists both with their status', async () => {
    const r = await runCli(['nodes', '--server', url, '--state-dir', state]);
    expect(r.code, r.stderr).toBe(0);
    for (const n of nodes) expect(r.stdout).toMatch(new RegExp(`${n.node}\\s+unchanged`));
  });

  it('drift is repaired as a corrective change', async () => {
    const n = nodes[0]!;
    writeFileSync(path.join(n.root, 'etc/motd'), 'edited by hand\n');
    const r = await agent(n);
    expect(r.code).toBe(2);
    expect(r.json.resources.find((x: { id: string }) => x.id === 'file[motd]').cause).toBe('corrective');
    const list = await runCli(['nodes', '--server', url, '--state-dir', state, '--format', 'json']);
    expect(list.json.nodes.find((x: { node: string }) => x.node === n.node).status).toBe('corrective change');
  });

  it('with the server killed the agents run on their cached catalogue and say so', async () => {
    await server.stop('SIGKILL');
    const n = nodes[1]!;
    writeFileSync(path.join(n.root, 'etc/motd'), 'drift while the server is down\n');
    const r = await agent(n);
    expect(r.code, r.stderr).toBe(2);
    expect(r.json.cachedCatalogue).toBe(true);
    expect(r.json.catalogueError.code).toBe('SERVER_UNREACHABLE');
    expect(r.stderr).toMatch(/last-known-good|cached catalogue/);
    expect(motd(n)).toMatch(/^second value\n/);
  });
});
