/**
 * Catalogue-server test support: a fleet tree of file resources, a CA, real server
 * processes (bin/tsconverge.js server) on free 127.0.0.1 ports (harness.freePort), and a throwaway
 * PostgreSQL cluster (initdb + pg_ctl as the postgres user, on a free port, sockets in a temp dir).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, chownSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BIN, freePort } from './harness.js';
import type { ClientTls } from '../../src/server/client.js';
import { stateLayout } from '../../src/core/state-layout.js';
import type { Facts } from '../../src/facts/facts.js';
import { readFileSync } from 'node:fs';

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `hs-${prefix}-`));
}

/** A fleet tree: nodes hs-* get module motd (a file whose text comes from data), node hs-a also a secret. */
export function writeFleet(dir: string, message: string): void {
  const w = (f: string, text: string): void => {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    writeFileSync(path.join(dir, f), text);
  };
  w('environments/production/manifests/site.yaml', 'roles:\n  box:\n    modules: [motd]\nnodes:\n  - glob: "hs-*"\n    role: box\n');
  w(
    'modules/motd/module.yaml',
    [
      'description: A message of the day, and optionally a token file.',
      'parameters:',
      '  message: { type: string, description: The text }',
      '  token: { type: string, default: "", description: "A secret token; written to etc/token when set" }',
      'resources:',
      '  - kind: file',
      '    name: motd',
      '    path: /etc/motd',
      '    content: "{{params.message}}\\n"',
      '  - kind: file',
      '    name: token',
      '    when: "{{params.token}}"',
      '    path: /etc/token',
      '    content: "{{params.token}}"',
      '',
    ].join('\n'),
  );
  w('data/common.yaml', `motd:\n  message: ${JSON.stringify(message)}\n`);
  w('environments/production/data/nodes/hs-a.yaml', 'motd:\n  token: !secret hs_token\n');
}

export interface ServerProc {
  readonly url: string;
  readonly proc: ChildProcess;
  log(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** `exe`: run this executable (e.g. the single executable dist/tsconverge) instead of bin/tsconverge.js. */
export async function startServer(args: string[], port: number, env: Record<string, string> = {}, exe?: string): Promise<ServerProc> {
  const proc = spawn(exe ?? process.execPath, [...(exe ? [] : [BIN]), 'server', '--host', '127.0.0.1', '--port', String(port), ...args], {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  proc.stderr!.on('data', (d) => {
    log += d;
  });
  const url = `https://127.0.0.1:${port}`;
  const deadline = Date.now() + 150_000; // PGlite takes seconds to start; much longer on a loaded machine
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server exited ${proc.exitCode}: ${log}`);
    if (/listening on/.test(log)) break;
    if (Date.now() > deadline) {
      proc.kill();
      throw new Error(`server did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    proc,
    log: () => log,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) {
          resolve();
          return;
        }
        proc.once('exit', () => resolve());
        proc.kill(signal);
      }),
  };
}

/** Facts of a test host named `node` (its uptime changes every call, as a real agent's does). */
export function nodeFacts(node: string, extra: Record<string, unknown> = {}): Facts {
  return {
    hostname: node,
    fqdn: node,
    domain: '',
    os: { family: 'debian', name: 'Debian', version: '12', id: 'debian', codename: 'bookworm', prettyName: 'Debian 12' },
    kernel: { release: '6', arch: 'x86_64' },
    cpus: 2,
    memoryBytes: 1,
    interfaces: {},
    network: {},
    primaryIPv4: null,
    uptimeSeconds: Math.random() * 1000,
    systemd: false,
    container: false,
    ...extra,
  } as Facts;
}

/** The CA, certificate and key an enrolled agent keeps in its state directory. */
export function agentTls(stateDir: string, node: string): ClientTls {
  const p = stateLayout(stateDir).ssl(node);
  return { ca: readFileSync(p.ca, 'utf8'), cert: readFileSync(p.cert, 'utf8'), key: readFileSync(p.key, 'utf8') };
}

export function operatorTls(caDir: string): ClientTls {
  const r = (f: string): string => readFileSync(path.join(caDir, f), 'utf8');
  return { ca: r('ca.crt'), cert: r('operator.crt'), key: r('operator.key') };
}

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface PgCluster {
  readonly url: string;
  stop(): void;
}

/** A throwaway PostgreSQL cluster of our own (never the machine's main one). Fails when postgresql is missing: scripts/setup.sh installs it. */
export async function startPostgres(): Promise<PgCluster> {
  if (!existsSync(path.join(PG_BIN, 'initdb'))) throw new Error(`PostgreSQL 15 is not installed (${PG_BIN}/initdb): run scripts/setup.sh`);
  const dir = mkdtempSync(path.join(tmpdir(), 'hs-pg-'));
  chmodSync(dir, 0o755);
  const data = path.join(dir, 'data');
  mkdirSync(data);
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  chownSync(dir, uid, gid);
  chownSync(data, uid, gid);
  const asPg = (cmd: string, args: string[]): void => {
    execFileSync('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, cmd), ...args], { stdio: 'pipe', cwd: dir });
  };
  const port = await freePort();
  asPg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  asPg('pg_ctl', ['-D', data, '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, '-w', '-l', path.join(dir, 'log'), 'start']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: () => {
      try {
        asPg('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
