/**
 * The server killed mid-run: two real agents (processes) with a cached catalogue send their
 * next catalogue request through a TCP relay that SIGKILLs the server as soon as the request
 * is on its way (the request's bytes are held back: the server dies with the agent waiting). Each agent runs on its cached (verified) catalogue, repairs drift with it,
 * and says so: in its run report (cachedCatalogue, catalogueError), on stderr and in its
 * metrics file (tsconverge_agent_cached_catalogue 1). With the server back, the next run is
 * fresh again (the gauge back to 0).
 */
import net from 'node:net';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, runCli, freePort } from '../support/harness.js';
import { startServer, tempDir, type ServerProc } from '../support/server.js';

const PORT = await freePort();
const RELAY = await freePort();
const work = tempDir('midrun');
const fleet = path.join(work, 'fleet');
const state = path.join(work, 'server');
let server: ServerProc;
let fingerprint: string;
const nodes = ['hs-m1', 'hs-m2'].map((node) => ({
  node,
  root: path.join(work, `root-${node}`),
  state: path.join(work, `state-${node}`),
  metrics: path.join(work, `${node}.prom`),
}));
type Node = (typeof nodes)[number];

async function agent(n: Node, url: string) {
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
    '--metrics-file',
    n.metrics,
    '--onetime',
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
const gauge = (n: Node): string | undefined => /^tsconverge_agent_cached_catalogue (\d+)$/m.exec(readFileSync(n.metrics, 'utf8'))?.[1];
const motd = (n: Node): string => readFileSync(path.join(n.root, 'etc/motd'), 'utf8');
const start = () => startServer(['--fleet', fleet, '--state-dir', state, '--autosign', path.join(work, 'autosign')], PORT);

beforeAll(async () => {
  cpSync(path.join(REPO, 'examples/server-fleet'), fleet, { recursive: true });
  const init = await runCli(['ca', 'init', '--state-dir', state]);
  expect(init.code, init.stderr).toBe(0);
  fingerprint = /fingerprint: (sha256:[0-9a-f]{64})/.exec(init.stdout)![1]!;
  writeFileSync(path.join(work, 'autosign'), 'hs-m*\n');
  server = await start();
}, 180_000);

afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('the server killed mid-run', () => {
  it('agents stay on their cached catalogue, repair drift with it, and report it (report, stderr, metrics)', { timeout: 240_000 }, async () => {
    for (const n of nodes) {
      const r = await agent(n, server.url);
      expect(r.code, r.stderr).toBe(2);
      expect(gauge(n)).toBe('0');
    }
    // A relay that kills the server once an agent's request is on its way: after the TLS
    // handshake (the server has answered), the agent's next bytes carry its HTTP request.
    let killed = false;
    const relay = net.createServer((client) => {
      const up = net.connect(PORT, '127.0.0.1');
      let serverSpoke = false;
      up.on('data', (d) => {
        serverSpoke = true;
        client.write(d);
      });
      client.on('data', (d) => {
        // Killed before the request is passed on: forwarding it first let a busy machine
        // schedule the server between the write and the kill, and it answered in time.
        if (serverSpoke && !killed) {
          killed = true;
          server.proc.kill('SIGKILL');
          return;
        }
        if (!killed) up.write(d);
      });
      const end = (): void => {
        client.destroy();
        up.destroy();
      };
      up.on('error', end);
      up.on('close', end);
      client.on('error', end);
      client.on('close', end);
    });
    await new Promise<void>((r) => relay.listen(RELAY, '127.0.0.1', r));
    try {
      for (const n of nodes) writeFileSync(path.join(n.root, 'etc/motd'), 'drift while the server dies\n');
      for (const n of nodes) {
        const r = await agent(n, `https://127.0.0.1:${RELAY}`);
        expect(killed).toBe(true);
        expect(r.code, r.stderr).toBe(2); // the drift was repaired, from the cache
        expect(r.json.cachedCatalogue).toBe(true);
        expect(r.json.catalogueError.code).toBe('SERVER_UNREACHABLE');
        expect(r.stderr).toMatch(/last-known-good|cached catalogue/);
        expect(gauge(n)).toBe('1');
        expect(motd(n)).toBe(`Welcome to the fleet\nThis is ${n.node}; questions to ops@example.org.\n`);
      }
    } finally {
      relay.close();
    }
    // The server back (same state): the next run is fresh again.
    await server.stop();
    server = await start();
    for (const n of nodes) {
      const r = await agent(n, server.url);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.cachedCatalogue).toBe(false);
      expect(gauge(n)).toBe('0');
    }
  });
});
