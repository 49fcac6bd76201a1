/**
 * Test harness for integration tests against the real world: the real Docker engine,
 * the real CLI (spawned as a process), real files in a temp root. Everything a test
 * creates carries the label tsconverge-test=<run id> and a unique name prefix, and is
 * removed by that label afterwards. A missing engine is a failure, never a skip.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import net from 'node:net';

export const REPO = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(REPO, 'bin/tsconverge.js');
export const REGISTRY = process.env.TSCONVERGE_TEST_REGISTRY ?? '127.0.0.1:5000';

/**
 * A TCP port on 127.0.0.1 that the OS says is free now. Tests take every port from here,
 * never a fixed number, so that two runs of the suite (two checkouts, CI beside a developer)
 * never collide on a port that the other holds.
 */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Fails (never skips) when the engine is missing: scripts/setup.sh starts it. */
export function requireDocker(): void {
  try {
    docker('info', '--format', '{{.ServerVersion}}');
  } catch (err) {
    throw new Error(`the Docker engine is not reachable: run scripts/setup.sh (npm test does). ${(err as Error).message}`);
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json?: any;
}

let stateBase: string | undefined;
/**
 * An apply without --root would take the machine's run lock (/var/lib/tsconverge/run.lock),
 * shared by every test file running in parallel: each test file gets a state dir of its own.
 */
function testStateDir(): string {
  if (!stateBase) {
    const dir = mkdtempSync(path.join(tmpdir(), 'tsc-state-'));
    stateBase = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return stateBase;
}

/**
 * Run the CLI. `opts.netns`: in a network namespace of its own (`unshare --net`, root), so
 * that its network facts hold still while other test files start and remove containers
 * (each adds and drops a veth interface on this host).
 */
export function runCli(args: string[], env: Record<string, string> = {}, opts: { netns?: boolean } = {}): Promise<CliResult> {
  const ownLock = args.includes('--root') || args.includes('--state-dir') || process.env.TSCONVERGE_STATE_DIR !== undefined;
  const argv = opts.netns ? ['unshare', '--net', process.execPath, BIN, ...args] : [process.execPath, BIN, ...args];
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: { ...process.env, NO_COLOR: '1', ...(ownLock ? {} : { TSCONVERGE_STATE_DIR: testStateDir() }), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => {
      let json: unknown;
      if (args.includes('json')) {
        try {
          json = JSON.parse(stdout);
        } catch {
          /* not json */
        }
      }
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
  });
}

export interface Sandbox {
  readonly id: string;
  readonly prefix: string;
  readonly root: string;
  readonly dir: string;
  readonly label: string;
  write(file: string, text: string): string;
  manifest(yaml: string): string;
  cleanup(): void;
}

/** A temp root, a manifest directory and a unique prefix for one test file. */
export function createSandbox(name: string): Sandbox {
  const id = `${name}-${randomBytes(3).toString('hex')}`;
  const base = mkdtempSync(path.join(tmpdir(), `tsc-${name}-`));
  const root = path.join(base, 'root');
  const dir = path.join(base, 'manifests');
  mkdirSync(root, { recursive: true });
  mkdirSync(dir, { recursive: true });
  const label = `tsconverge-test=${id}`;
  return {
    id,
    prefix: `tsct-${id}`,
    root,
    dir,
    label,
    write(file, text) {
      const p = path.join(dir, file);
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, text);
      return p;
    },
    manifest(yaml) {
      return this.write('manifest.yaml', yaml);
    },
    cleanup() {
      const ids = (kind: string, ...fmt: string[]): string[] =>
        docker(kind, 'ls', '-q', ...fmt, '--filter', `label=${label}`)
          .split('\n')
          .filter(Boolean);
      try {
        const cs = docker('ps', '-aq', '--filter', `label=${label}`).split('\n').filter(Boolean);
        // -v: also the container's anonymous volumes (`-v /anon` in import-host.test.ts); named ones stay for the label pass below.
        if (cs.length) docker('rm', '-f', '-v', ...cs);
        for (const n of ids('network')) {
          try {
            docker('network', 'rm', n);
          } catch {
            /* engine quirk: see TEST_ENV */
          }
        }
        const vs = ids('volume');
        if (vs.length) docker('volume', 'rm', '-f', ...vs);
      } finally {
        rmSync(base, { recursive: true, force: true });
      }
    },
  };
}

/**
 * The engine's objects a test owns (by label), for "nothing changed" assertions. Images
 * are shared by test files running in parallel, so image tests check theirs directly.
 */
export function dockerSnapshot(label: string): string {
  const cs = docker('ps', '-aq', '--filter', `label=${label}`).split('\n').filter(Boolean);
  const inspect = cs.length ? docker('inspect', '--format', '{{.Id}} {{.Name}} {{.State.Status}} {{.State.StartedAt}} {{.Image}}', ...cs) : '';
  return [
    inspect,
    docker('network', 'ls', '--filter', `label=${label}`, '--format', '{{.ID}} {{.Name}}'),
    docker('volume', 'ls', '--filter', `label=${label}`, '--format', '{{.Name}}'),
  ].join('\n---\n');
}

export function containerInfo(name: string): { id: string; status: string; startedAt: string; image: string } {
  const [id, status, startedAt, image] = docker('inspect', '--format', '{{.Id}} {{.State.Status}} {{.State.StartedAt}} {{.Image}}', name).split(' ');
  return { id: id!, status: status!, startedAt: startedAt!, image: image! };
}
