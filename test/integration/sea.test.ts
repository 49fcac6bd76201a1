/**
 * The single executable dist/tsconverge (issue 11) on a clean root: a chroot that holds
 * only the executable, the shared libraries `ldd` names, the manifests and the Docker
 * socket (bind-mounted in a private mount namespace). No node, no shell, no node_modules,
 * no repository: validate, plan, apply, apply again, a fleet tree with the bundled
 * modules (SEA assets), and --version.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, containerInfo, createSandbox, docker, requireDocker, type Sandbox } from '../support/harness.js';

const EXE = path.join(REPO, 'dist/tsconverge');
let sb: Sandbox;
let jail: string;

/** Run the executable inside the chroot (cwd /work); the socket is bind-mounted for this call only. */
function inJail(args: string[]): { code: number; stdout: string; stderr: string } {
  // The jailed process gets PATH=/bin (which holds only tsconverge) and no other environment.
  const script =
    'set -e; mount --bind /var/run/docker.sock "$1/var/run/docker.sock"; mount -t proc proc "$1/proc"; j=$1; shift; exec /usr/bin/env -i PATH=/bin HOME=/work NO_COLOR=1 /usr/sbin/chroot "$j" /bin/tsconverge "$@"';
  const r = spawnSync('/usr/bin/unshare', ['--mount', '--propagation', 'private', '--fork', '/bin/sh', '-c', script, 'sh', jail, ...args], {
    encoding: 'utf8',
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    cwd: '/',
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  requireDocker();
  if (!existsSync(EXE)) throw new Error(`${EXE} is missing: run npm run build (scripts/setup.sh does)`);
  sb = createSandbox('hf-sea');
  jail = path.join(sb.root, 'jail');
  for (const d of ['bin', 'dev', 'proc', 'tmp', 'var/run', 'work/root', 'etc']) mkdirSync(path.join(jail, d), { recursive: true });
  copyFileSync(EXE, path.join(jail, 'bin/tsconverge'));
  execFileSync('chmod', ['755', path.join(jail, 'bin/tsconverge')]);
  // The shared libraries the executable links (libc, libstdc++, libm, libgcc_s, ld-linux...).
  for (const lib of execFileSync('ldd', [EXE], { encoding: 'utf8' }).matchAll(/(\/\S+\.so[.\d]*)/g)) {
    const dest = path.join(jail, lib[1]!);
    mkdirSync(path.dirname(dest), { recursive: true });
    copyFileSync(lib[1]!, dest);
  }
  writeFileSync(path.join(jail, 'var/run/docker.sock'), '');
  writeFileSync(path.join(jail, 'etc/hostname'), 'sea-host\n');
  cpSync(path.join(REPO, 'examples/fleet'), path.join(jail, 'work/fleet'), { recursive: true });
  writeFileSync(
    path.join(jail, 'work/m.yaml'),
    `
resources:
  - kind: file
    name: /srv/hello.txt
    content: "hello from the single executable\\n"
    mode: "0644"
  - kind: docker.container
    name: ${sb.prefix}-c
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${sb.id} }
`,
  );
});
afterAll(() => sb?.cleanup());

describe('single executable on a clean root (no node)', () => {
  it('the root has no node and no shell', () => {
    expect(existsSync(path.join(jail, 'usr/bin/node'))).toBe(false);
    expect(existsSync(path.join(jail, 'bin/sh'))).toBe(false);
    expect(statSync(path.join(jail, 'bin/tsconverge')).size).toBeGreaterThan(50e6);
  });

  it('--version', () => {
    const version = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')).version;
    // --version and -V alone: the launcher's answer; with a global option: commander's. The same line.
    for (const args of [['--version'], ['-V'], ['--log-level', 'warn', '--version']]) {
      const r = inJail(args);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
    }
  });

  it('both code caches are accepted: one-shot commands and the long-running ones', () => {
    // agent --version: the agent process's own small bundle (scripts/sea-launcher.cjs) and its cache.
    for (const args of [
      ['validate', path.join(jail, 'work/m.yaml')],
      ['server', '--help'],
      ['agent', '--help'],
      ['agent', '--version'],
    ]) {
      const r = spawnSync('/usr/bin/env', ['TSCONVERGE_SEA_CACHE_CHECK=1', path.join(jail, 'bin/tsconverge'), ...args], { encoding: 'utf8', cwd: jail });
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
  });

  it('validate, plan, apply, apply again', () => {
    const v = inJail(['validate', '/work/m.yaml']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^ok: 2 resources/);

    const p = inJail(['plan', '/work/m.yaml', '--root', '/work/root', '--format', 'json']);
    expect(p.code, p.stderr).toBe(2);
    expect(JSON.parse(p.stdout).summary.pending).toBe(2);
    expect(existsSync(path.join(jail, 'work/root/srv/hello.txt'))).toBe(false);
    expect(docker('ps', '-aq', '--filter', `label=tsconverge-test=${sb.id}`)).toBe('');

    const a = inJail(['apply', '/work/m.yaml', '--root', '/work/root', '--format', 'json']);
    expect(a.code, a.stderr).toBe(2);
    expect(readFileSync(path.join(jail, 'work/root/srv/hello.txt'), 'utf8')).toBe('hello from the single executable\n');
    expect(containerInfo(`${sb.prefix}-c`).status).toBe('running');

    const again = inJail(['apply', '/work/m.yaml', '--root', '/work/root', '--format', 'json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).summary.changed).toBe(0);
  });

  it('a fleet tree with the bundled modules (shipped as SEA assets)', () => {
    const r = inJail(['validate', '/work/fleet']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok: fleet tree, \d+ nodes compiled/);
    // The modules were written once to the private asset cache (root: /var/cache/tsconverge, 0700).
    const cache = path.join(jail, 'var/cache/tsconverge');
    expect(statSync(cache).mode & 0o777).toBe(0o700);
    const dirs = execFileSync('ls', [cache], { encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(dirs).toHaveLength(1);
    expect(existsSync(path.join(cache, dirs[0]!, 'modules/ntp/module.yaml'))).toBe(true);
  });

  it('the agent: its process schedules from its own bundle, each run is a child process of the executable', async () => {
    writeFileSync(path.join(jail, 'work/agent.yaml'), 'resources:\n  - kind: file\n    name: /srv/agent.txt\n    content: "kept by the agent\\n"\n');
    const file = path.join(jail, 'work/root/srv/agent.txt');
    // --onetime runs in its own process (the main bundle).
    const once = inJail(['agent', '--onetime', '--manifests', '/work/agent.yaml', '--root', '/work/root', '--state-dir', '/work/state-once']);
    expect(once.code, once.stderr).toBe(2);
    rmSync(file);
    // /dev/null: a host has one, and a child process's ignored stdin is opened on it.
    writeFileSync(path.join(jail, 'dev/null'), '');
    const script =
      'set -e; mount -t proc proc "$1/proc"; mount --bind /dev/null "$1/dev/null"; j=$1; shift; exec /usr/bin/env -i PATH=/bin HOME=/work NO_COLOR=1 /usr/sbin/chroot "$j" /bin/tsconverge "$@"';
    const agent = spawn(
      '/usr/bin/unshare',
      [
        '--mount',
        '--propagation',
        'private',
        '--fork',
        '--kill-child=SIGTERM',
        '/bin/sh',
        '-c',
        script,
        'sh',
        jail,
        '--log-level',
        'warn',
        'agent',
        '--manifests',
        '/work/agent.yaml',
        '--root',
        '/work/root',
        '--state-dir',
        `/work/state-agent-${sb.id}`,
        '--interval',
        '2s',
        '--splay-limit',
        '1s',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, cwd: '/' },
    );
    let stderr = '';
    agent.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const until = async (what: string, ok: () => boolean): Promise<void> => {
      for (const end = Date.now() + 30_000; !ok();) {
        if (Date.now() > end || agent.exitCode !== null) throw new Error(`${what}: not seen (agent exit ${agent.exitCode}): ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      await until('the first run', () => existsSync(file));
      rmSync(file);
      await until('drift repaired by a scheduled run', () => existsSync(file));
      expect(readFileSync(file, 'utf8')).toBe('kept by the agent\n');
      const summary = JSON.parse(readFileSync(path.join(jail, `work/state-agent-${sb.id}/last_run_summary.json`), 'utf8')) as { exitCode: number };
      expect([0, 2]).toContain(summary.exitCode);
    } finally {
      if (agent.exitCode === null && agent.signalCode === null) {
        agent.kill('SIGKILL'); // unshare ignores SIGTERM while it waits; --kill-child sends the agent SIGTERM
        await new Promise((r) => agent.once('exit', r));
      }
      // The agent stops on its SIGTERM: wait for it (and its runs) to be gone.
      for (const end = Date.now() + 15_000; spawnSync('pgrep', ['-f', `state-agent-${sb.id}`]).status === 0;) {
        if (Date.now() > end) throw new Error('the agent did not stop on SIGTERM');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(stderr).not.toMatch(/cannot run in-process|unexpected error/);
  });

  it('an invalid manifest names file, line and column, and changes nothing', () => {
    writeFileSync(path.join(jail, 'work/bad.yaml'), 'resources:\n  - kind: file\n    name: /srv/x\n    mode: 7\n');
    const r = inJail(['apply', '/work/bad.yaml', '--root', '/work/root']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\/work\/bad\.yaml:4:5/);
    expect(existsSync(path.join(jail, 'work/root/srv/x'))).toBe(false);
  });
});

afterAll(() => {
  if (jail) rmSync(jail, { recursive: true, force: true });
});
