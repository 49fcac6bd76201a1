/**
 * A throwaway Docker engine in a network namespace of its own, with its own firewall:
 * `ip netns add NAME`, then dockerd started through `nsenter --net=/var/run/netns/NAME`
 * (not `ip netns exec`, which remounts /sys: dockerd then stops with "Devices cgroup isn't
 * mounted") with its own data-root, exec-root, pidfile and socket. Its iptables rules
 * (DOCKER-USER and the rest) live in that namespace: the machine's own firewall is never
 * touched. Optionally an "outside" namespace joined to it by a veth pair, the engine side
 * 192.168.251.1/24, the outside 192.168.251.2/24 routing through it, for traffic from
 * outside to published ports.
 *
 * Everything is named with the caller's prefix (`i25-fw-<hex>`); `stop()` removes it all.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

export interface NetnsEngine {
  readonly ns: string;
  readonly dir: string;
  readonly sock: string;
  /** The command prefix that runs something in the engine's namespace. */
  readonly prefix: readonly string[];
  /** The environment a CLI run needs to reach this engine. */
  readonly env: Record<string, string>;
  /** The outside namespace (when asked for): its name, and the engine side's address there. */
  readonly outside?: { readonly ns: string; readonly engineAddress: string; readonly address: string };
  docker(...args: string[]): string;
  /** Run a command in the engine's namespace; returns stdout. */
  inNs(file: string, ...args: string[]): string;
  /** Run a command in the outside namespace; exit code and output, never throws. */
  fromOutside(file: string, ...args: string[]): { code: number; out: string };
  /** Stop dockerd (SIGTERM, wait) and start it again, same namespace, same state. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const sh = (file: string, args: readonly string[]): string => execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const alive = (pid: number): boolean => {
  try {
    return !/^\S+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

export async function startNetnsEngine(prefix: string, opts: { outside?: boolean; images?: readonly string[] } = {}): Promise<NetnsEngine> {
  const id = randomBytes(3).toString('hex');
  const ns = `${prefix}-${id}`;
  const dir = `/tmp/${ns}`;
  const sock = path.join(dir, 'docker.sock');
  const pidfile = path.join(dir, 'dockerd.pid');
  mkdirSync(dir, { recursive: true });
  sh('ip', ['netns', 'add', ns]);
  sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  const nsenter = ['nsenter', `--net=/var/run/netns/${ns}`];
  const docker = (...args: string[]): string => sh('docker', ['-H', `unix://${sock}`, ...args]).trim();
  const ready = (): boolean => {
    try {
      docker('version', '--format', '{{.Server.Version}}');
      return true;
    } catch {
      return false;
    }
  };
  const pid = (): number => {
    try {
      return Number(readFileSync(pidfile, 'utf8').trim());
    } catch {
      return 0;
    }
  };

  const startDockerd = async (): Promise<void> => {
    rmSync(pidfile, { force: true });
    const child = spawn(
      nsenter[0]!,
      [
        ...nsenter.slice(1),
        'dockerd',
        '--data-root',
        path.join(dir, 'data'),
        '--exec-root',
        path.join(dir, 'exec'),
        '--pidfile',
        pidfile,
        '--host',
        `unix://${sock}`,
      ],
      { detached: true, stdio: ['ignore', 'ignore', 'ignore'] },
    );
    child.unref();
    try {
      await until(`the test engine answering on ${sock}`, ready, 60_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}`);
    }
  };
  await startDockerd();
  for (const image of opts.images ?? ['local/busybox:1']) {
    execFileSync('sh', ['-c', `docker save ${image} | docker -H unix://${sock} load -q`], { stdio: ['ignore', 'ignore', 'pipe'] });
  }

  let outside: NetnsEngine['outside'];
  const outNs = `${prefix}o-${id}`;
  if (opts.outside) {
    const a = `${prefix.slice(0, 4)}a${id}`;
    const b = `${prefix.slice(0, 4)}b${id}`;
    sh('ip', ['netns', 'add', outNs]);
    sh('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
    sh('ip', ['link', 'set', a, 'netns', ns]);
    sh('ip', ['link', 'set', b, 'netns', outNs]);
    sh('ip', ['-n', ns, 'addr', 'add', '192.168.251.1/24', 'dev', a]);
    sh('ip', ['-n', ns, 'link', 'set', a, 'up']);
    sh('ip', ['-n', outNs, 'addr', 'add', '192.168.251.2/24', 'dev', b]);
    sh('ip', ['-n', outNs, 'link', 'set', b, 'up']);
    sh('ip', ['-n', outNs, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', outNs, 'route', 'add', 'default', 'via', '192.168.251.1']);
    outside = { ns: outNs, engineAddress: '192.168.251.1', address: '192.168.251.2' };
  }

  return {
    ns,
    dir,
    sock,
    prefix: nsenter,
    env: { DOCKER_HOST: `unix://${sock}` },
    ...(outside ? { outside } : {}),
    docker,
    inNs: (file, ...args) => sh(nsenter[0]!, [...nsenter.slice(1), file, ...args]),
    fromOutside(file, ...args) {
      try {
        return { code: 0, out: sh('nsenter', [`--net=/var/run/netns/${outNs}`, file, ...args]) };
      } catch (err) {
        const e = err as { status?: number; stdout?: string; stderr?: string };
        return { code: e.status ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
      }
    },
    async restart() {
      const p = pid();
      if (p) {
        process.kill(p, 'SIGTERM');
        await until('dockerd to stop', () => !alive(p), 60_000);
      }
      await startDockerd();
    },
    async stop() {
      try {
        for (const c of docker('ps', '-aq').split('\n').filter(Boolean)) docker('rm', '-f', c);
      } catch {
        /* engine gone */
      }
      const p = pid();
      if (p && alive(p)) {
        process.kill(p, 'SIGTERM');
        await until('dockerd to stop', () => !alive(p), 60_000).catch(() => process.kill(p, 'SIGKILL'));
      }
      for (const m of readFileSync('/proc/mounts', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[1])
        .filter((x): x is string => !!x && x.startsWith(dir))
        .reverse()) {
        try {
          sh('umount', ['-l', m]);
        } catch {
          /* already gone */
        }
      }
      if (opts.outside) {
        try {
          sh('ip', ['netns', 'delete', outNs]);
        } catch {
          /* gone */
        }
      }
      try {
        sh('ip', ['netns', 'delete', ns]);
      } catch {
        /* gone */
      }
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    },
  };
}
