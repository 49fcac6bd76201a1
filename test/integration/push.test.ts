/**
 * `tsconverge push` against real sshd processes on loopback (one per simulated host,
 * test/support/sshd.ts), each host with its own --root, state dir and containers on the
 * real Docker engine. A fleet tree gives every node a file holding a secret and a
 * container of its own name. Proves: three hosts converge and a second push changes
 * nothing; --noop changes nothing anywhere; host keys (unknown refused, --accept-new
 * records, hashed entries match, a changed key refused with both fingerprints); a host
 * that is down is named while the others converge; the secret is in no process's
 * arguments or environment on either side, and in no file readable by others;
 * tsconverge is installed where missing; a bad inventory is an error with its position.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  BIN,
  REPO,
  containerInfo,
  createSandbox,
  docker,
  dockerSnapshot,
  freePort,
  requireDocker,
  runCli,
  type CliResult,
  type Sandbox,
} from '../support/harness.js';
import { createSshd, generateKey, type Sshd } from '../support/sshd.js';
import { whileSampling } from '../support/proc.js';
import { waitFor } from '../support/agent.js';

const RUN = `hu-${randomBytes(3).toString('hex')}`;
const SECRET = `tsc-push-secret-${randomBytes(8).toString('hex')}`;
const CONTROL = `hu-ctl-${randomBytes(6).toString('hex')}`;
const HOSTS = ['a', 'b', 'c'] as const;
const PORTS = { a: await freePort(), b: await freePort(), c: await freePort(), down: await freePort(), k: await freePort() } as const;

let sb: Sandbox;
let base: string;
let fleet: string;
let secretsDir: string;
let clientKey: string;
const sshd: Record<string, Sshd> = {};
const started = Date.now();

const rootOf = (h: string): string => path.join(base, CONTROL, h, 'root');
const stateOf = (h: string): string => path.join(base, CONTROL, h, 'state');
const containerOf = (h: string): string => `${RUN}-${h}`;

function hostYaml(h: string, port: number, extra = ''): string {
  return `  ${RUN}-${h}:\n    address: 127.0.0.1\n    port: ${port}\n    root: ${rootOf(h)}\n    stateDir: ${stateOf(h)}\n${extra}`;
}

function inventory(file: string, hosts: readonly [string, number][], opts: { knownHosts?: string; tsconverge?: string } = {}): string {
  const p = path.join(base, file);
  writeFileSync(
    p,
    [
      `knownHosts: ${opts.knownHosts ?? 'known_hosts'}`,
      'defaults:',
      `  key: ${clientKey}`,
      `  tsconverge: ${opts.tsconverge ?? BIN}`,
      '  connectTimeout: 20',
      'hosts:',
      ...hosts.map(([h, port]) => hostYaml(h, port)),
      'groups:',
      `  trio: [${HOSTS.map((h) => `${RUN}-${h}`)
        .filter((n) => hosts.some(([h]) => `${RUN}-${h}` === n))
        .join(', ')}]`,
      '',
    ].join('\n'),
  );
  return p;
}

function push(args: string[]): Promise<CliResult> {
  // The secret comes from the secrets dir only: nothing in any process's environment.
  return runCli(['push', fleet, '--secrets-dir', secretsDir, ...args]);
}

function jsonLines(r: CliResult): any[] {
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** Every file under the hosts' roots and state dirs: path -> size, mtime, sha256. */
function filesSnapshot(): string {
  const out: string[] = [];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const n of readdirSync(dir).sort()) {
      const p = path.join(dir, n);
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.push(`${p}/ ${st.mode.toString(8)}`);
        walk(p);
        continue;
      }
      out.push(`${p} ${st.size} ${st.mtimeMs} ${st.mode.toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
    }
  };
  walk(path.join(base, CONTROL));
  return out.join('\n');
}

const procHits: string[] = [];
let controlSeen = 0;
/** Run `work` while reading every process's cmdline and environ for the secret (and the control token, to prove the sampler sees the remote apply). */
async function sampling<T>(work: () => Promise<T>): Promise<T> {
  const { result } = await whileSampling(
    (pid, file, text) => {
      if (text.includes(SECRET)) procHits.push(`${pid} ${file}: ${text.replace(/\0/g, ' ').slice(0, 200)}`);
      if (file === 'cmdline' && text.includes(CONTROL) && text.includes('--catalogue-stdin')) controlSeen++;
    },
    work,
    ['cmdline', 'environ'],
  );
  return result;
}

/** Files readable by others (under the test's dir and the temp dir, changed since the test began) that hold the secret. */
function readableFilesWithSecret(): string[] {
  const hits: string[] = [];
  const walk = (dir: string, depth: number): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const p = path.join(dir, n);
      let st;
      try {
        st = lstatSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory() && depth < 12) {
        walk(p, depth + 1);
        continue;
      }
      if (!st.isFile() || st.mtimeMs < started - 1000 || st.size > 4 << 20 || (st.mode & 0o004) === 0) continue;
      try {
        if (readFileSync(p, 'latin1').includes(SECRET)) hits.push(p);
      } catch {
        /* gone */
      }
    }
  };
  walk(base, 0);
  walk(tmpdir(), 0);
  return hits;
}

beforeAll(async () => {
  requireDocker();
  sb = createSandbox(`hu-push`);
  base = path.dirname(sb.root);
  fleet = path.join(sb.dir, 'fleet');
  secretsDir = path.join(base, 'secrets');
  mkdirSync(secretsDir, { mode: 0o700 });
  writeFileSync(path.join(secretsDir, 'app_token'), SECRET + '\n', { mode: 0o600 });
  sb.write('fleet/environments/test/manifests/site.yaml', `roles:\n  app: { modules: [app] }\nnodes:\n  - glob: "${RUN}-*"\n    role: app\n`);
  sb.write(
    'fleet/modules/app/module.yaml',
    [
      'description: A configuration file holding a token, and a container.',
      'parameters:',
      '  name: { type: string, description: Container name. }',
      '  label: { type: string, description: The tsconverge-test label. }',
      '  token: { type: string, description: The token (a secret). }',
      'resources:',
      '  - kind: file',
      '    name: app-conf',
      '    path: /etc/app.conf',
      '    content: "token={{params.token}}\\n"',
      '  - kind: docker.container',
      '    name: "{{params.name}}"',
      '    image: local/busybox:1',
      `    command: [sh, -c, "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"]`,
      '    labels: { tsconverge-test: "{{params.label}}" }',
      '',
    ].join('\n'),
  );
  sb.write('fleet/environments/test/data/common.yaml', `app:\n  label: ${sb.id}\n  token: !secret app_token\n`);
  for (const h of [...HOSTS, 'k']) {
    sb.write(`fleet/environments/test/data/nodes/${RUN}-${h}.yaml`, `app:\n  name: ${containerOf(h)}\n`);
    mkdirSync(rootOf(h), { recursive: true });
  }
  clientKey = path.join(base, 'id_ed25519');
  const pub = generateKey(clientKey);
  for (const h of [...HOSTS, 'k'] as const) {
    sshd[h] = createSshd(path.join(base, 'sshd', h), PORTS[h], pub);
    await sshd[h]!.start();
  }
  writeFileSync(path.join(base, 'known_hosts'), HOSTS.map((h) => sshd[h]!.knownHostsLine()).join('\n') + '\n');
}, 60_000);

afterAll(async () => {
  for (const s of Object.values(sshd)) await s.stop();
  sb?.cleanup();
});

describe('tsconverge push over real SSH', () => {
  it('converges three hosts (secret in no process and no readable file); a second push reports no changes', async () => {
    const inv = inventory(
      'inventory.yaml',
      HOSTS.map((h) => [h, PORTS[h]]),
    );
    const first = await sampling(() => push(['--inventory', inv, '--parallel', '3']));
    expect(first.code, first.stderr + first.stdout).toBe(2);
    for (const h of HOSTS) {
      expect(first.stdout).toContain(`${RUN}-${h}:   + file[app-conf]`);
      expect(first.stdout).toContain(`${RUN}-${h}:   + docker.container[${containerOf(h)}]`);
      expect(containerInfo(containerOf(h)).status).toBe('running');
      const conf = path.join(rootOf(h), 'etc/app.conf');
      expect(readFileSync(conf, 'utf8')).toBe(`token=${SECRET}\n`);
      expect(statSync(conf).mode & 0o077).toBe(0); // sensitive: the owner's only
      expect(existsSync(path.join(stateOf(h), 'applied.json'))).toBe(true);
    }
    // The summary table: host, exit code, changed, failed, duration.
    expect(first.stdout).toMatch(/HOST\s+EXIT\s+CHANGED\s+FAILED\s+DURATION/);
    for (const h of HOSTS) expect(first.stdout).toMatch(new RegExp(`${RUN}-${h}\\s+2\\s+2\\s+0\\s+\\d+\\.\\d s`));
    expect(first.stdout + first.stderr).not.toContain(SECRET);
    expect(first.stdout).toContain('(sensitive');

    const second = await sampling(() => push(['--inventory', inv, '--format', 'json']));
    expect(second.code, second.stderr).toBe(0);
    const lines = jsonLines(second);
    expect(lines.map((l) => l.host).sort()).toEqual(HOSTS.map((h) => `${RUN}-${h}`));
    for (const l of lines) expect(l).toMatchObject({ exitCode: 0, changed: 0, failed: 0, status: 'ok', report: { summary: { changed: 0, unchanged: 2 } } });
    expect(second.stdout).not.toContain(SECRET);

    expect(controlSeen, 'the sampler saw the remote apply processes').toBeGreaterThan(0);
    expect(procHits).toEqual([]);
    expect(readableFilesWithSecret()).toEqual([]);
  }, 180_000);

  it('--noop changes nothing anywhere and reports the drift on each host', async () => {
    const inv = path.join(base, 'inventory.yaml');
    rmSync(path.join(rootOf('b'), 'etc/app.conf'));
    docker('rm', '-f', containerOf('c'));
    const files = filesSnapshot();
    const engine = dockerSnapshot(sb.label);
    const r = await push(['--inventory', inv, '--noop', '--format', 'json']);
    expect(r.code, r.stderr).toBe(2);
    const by = Object.fromEntries(jsonLines(r).map((l) => [l.host, l]));
    expect(by[`${RUN}-a`]).toMatchObject({ exitCode: 0, changed: 0 });
    expect(by[`${RUN}-b`]).toMatchObject({ exitCode: 2, changed: 1, report: { noop: true } });
    expect(by[`${RUN}-c`]).toMatchObject({ exitCode: 2, changed: 1, report: { noop: true } });
    expect(filesSnapshot()).toBe(files);
    expect(dockerSnapshot(sb.label)).toBe(engine);
    expect(r.stdout).not.toContain(SECRET);
  }, 120_000);

  it('a host that is down is named (exit 4 or more) while the others converge', async () => {
    const inv = inventory('inventory-down.yaml', [...HOSTS.map((h) => [h, PORTS[h]] as [string, number]), ['down', PORTS.down]]);
    const r = await push(['--inventory', inv]);
    expect(r.code, r.stdout + r.stderr).toBe(6); // b and c repaired (2), down unreachable (4)
    expect(r.stdout).toMatch(new RegExp(`${RUN}-down: error: cannot connect to root@\\[127\\.0\\.0\\.1\\]:${PORTS.down}`));
    expect(r.stdout).toMatch(new RegExp(`${RUN}-down\\s+4\\s+-\\s+-\\s+\\S+ s\\s+unreachable`));
    expect(r.stdout).toContain(`not reached: ${RUN}-down`);
    expect(readFileSync(path.join(rootOf('b'), 'etc/app.conf'), 'utf8')).toBe(`token=${SECRET}\n`);
    expect(containerInfo(containerOf('c')).status).toBe('running');
    const again = await push(['--inventory', inv, '--limit', 'trio']);
    expect(again.code, again.stdout).toBe(0);
  }, 120_000);

  it("the remote apply runs under the host's run lock: while another run holds it, that host does not run (exit 1 there, 4 overall)", async () => {
    const { acquireRunLock } = await import('../../src/engine/lock.js');
    const lock = await acquireRunLock(stateOf('a'), { command: 'test' });
    try {
      const r = await push(['--inventory', path.join(base, 'inventory.yaml'), '--limit', `${RUN}-a`, '--format', 'json']);
      expect(r.code, r.stdout + r.stderr).toBe(4);
      expect(jsonLines(r)).toMatchObject([{ host: `${RUN}-a`, status: 'not-run', exitCode: 1, errors: [{ code: 'RUN_IN_PROGRESS' }] }]);
    } finally {
      await lock.release();
    }
  }, 60_000);

  it("SIGINT reaches the hosts' applies: in-flight work finishes, the rest is skipped, the report comes back, lock released, exit 130", async () => {
    const dir = path.join(base, 'slow');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'slow.yaml'),
      [
        'resources:',
        '  - kind: file',
        '    name: slow',
        '    path: /etc/slow.conf',
        '    content: "slow\\n"',
        '    validate: "sleep 2.718"',
        '  - kind: file',
        '    name: after',
        '    path: /etc/after.conf',
        '    content: "after\\n"',
        '    require: file[slow]',
        '',
      ].join('\n'),
    );
    const inv = inventory(
      'inventory.yaml',
      HOSTS.map((h) => [h, PORTS[h]]),
    );
    const child = spawn(process.execPath, [BIN, 'push', dir, '--inventory', inv, '--limit', `${RUN}-a`, '--format', 'json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // The remote apply is validating the slow file: its `sleep 2.718` runs on "host a".
    await waitFor(
      'the remote validate command',
      () =>
        readdirSync('/proc').some((pid) => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, 'latin1') === 'sleep\x002.718\x00';
          } catch {
            return false;
          }
        }),
      30_000,
      20,
    );
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const [line] = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(line, stdout).toMatchObject({ host: `${RUN}-a`, exitCode: 130, report: { interrupted: true } });
    const by = Object.fromEntries(line.report.resources.map((r: any) => [r.id, r]));
    expect(by['file[slow]']).toMatchObject({ status: 'changed' });
    expect(by['file[after]']).toMatchObject({ status: 'skipped', error: { code: 'INTERRUPTED' } });
    expect(existsSync(path.join(rootOf('a'), 'etc/slow.conf'))).toBe(true);
    expect(existsSync(path.join(rootOf('a'), 'etc/after.conf'))).toBe(false);
    expect(existsSync(path.join(stateOf('a'), 'run.lock'))).toBe(false);
  }, 60_000);

  it('host keys: unknown refused, --accept-new records it, hashed entries match, a changed key is refused with both fingerprints', async () => {
    const known = path.join(base, 'known_hosts_k');
    const inv = inventory('inventory-k.yaml', [['k', PORTS.k]], { knownHosts: known });
    const fp = (pubLine: string): string => {
      const f = path.join(base, 'k.pub');
      writeFileSync(f, pubLine + '\n');
      return execFileSync('ssh-keygen', ['-lf', f], { encoding: 'utf8' }).split(' ')[1]!;
    };
    const oldFp = fp(sshd.k!.hostKey());

    const refused = await push(['--inventory', inv]);
    expect(refused.code).toBe(4);
    expect(refused.stdout).toContain(`host key of [127.0.0.1]:${PORTS.k} is not in ${known}: it offered ssh-ed25519 ${oldFp}; refused`);
    expect(existsSync(known)).toBe(false);
    expect(existsSync(path.join(rootOf('k'), 'etc/app.conf'))).toBe(false);

    const accepted = await push(['--inventory', inv, '--accept-new']);
    expect(accepted.code, accepted.stdout + accepted.stderr).toBe(2);
    expect(accepted.stdout).toContain(`${RUN}-k: host key recorded (--accept-new)`);
    expect(readFileSync(known, 'utf8')).toBe(sshd.k!.knownHostsLine() + '\n');

    execFileSync('ssh-keygen', ['-H', '-f', known], { stdio: 'ignore' });
    expect(readFileSync(known, 'utf8')).toMatch(/^\|1\|/);
    const hashed = await push(['--inventory', inv]);
    expect(hashed.code, hashed.stdout).toBe(0);

    await sshd.k!.stop();
    sshd.k!.regenerateHostKey();
    await sshd.k!.start();
    const newFp = fp(sshd.k!.hostKey());
    const before = readFileSync(known, 'utf8');
    const changed = await push(['--inventory', inv, '--accept-new']);
    expect(changed.code).toBe(4);
    expect(changed.stdout).toContain(`host key of [127.0.0.1]:${PORTS.k} has CHANGED: it offered ssh-ed25519 ${newFp}; known_hosts has ssh-ed25519 ${oldFp}`);
    expect(changed.stdout).toMatch(new RegExp(`${RUN}-k\\s+4\\s+-\\s+-\\s+\\S+ s\\s+host key refused`));
    expect(readFileSync(known, 'utf8')).toBe(before);
  }, 120_000);

  it('installs the single executable where tsconverge is missing (sha256-checked), or says what to install with --no-install', async () => {
    const exe = path.join(REPO, 'dist/tsconverge');
    expect(existsSync(exe), 'dist/tsconverge is built by npm run build (scripts/setup.sh)').toBe(true);
    const target = path.join(base, CONTROL, 'a', 'opt', 'bin', 'tsconverge');
    const inv = inventory('inventory-install.yaml', [['a', PORTS.a]], { tsconverge: target });
    const refused = await push(['--inventory', inv, '--no-install']);
    expect(refused.code).toBe(4);
    expect(refused.stdout).toContain(`${RUN}-a: error: ${RUN}-a: no tsconverge at ${target}`);
    expect(refused.stdout).toContain('hint: install tsconverge');
    expect(existsSync(target)).toBe(false);

    const installed = await push(['--inventory', inv]);
    expect([0, 2], installed.stdout + installed.stderr).toContain(installed.code); // 2 when run alone: host a not converged yet
    expect(installed.stdout).toContain(`${RUN}-a: installed tsconverge`);
    const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
    expect(sha(target)).toBe(sha(exe));
    expect(statSync(target).mode & 0o777).toBe(0o755);
    expect(readdirSync(path.dirname(target))).toEqual(['tsconverge']); // no upload temp file left
    const again = await push(['--inventory', inv]);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain('installed tsconverge');
  }, 180_000);

  it('a bad inventory is an error with file, line, column and field; nothing is contacted', async () => {
    const bad = path.join(base, 'bad.yaml');
    writeFileSync(bad, ['hosts:', '  web-1:', '    address: 127.0.0.1', '    port: twenty-two', 'groups:', '  web: [web-1, web-9]', ''].join('\n'));
    const r = await runCli(['push', fleet, '--inventory', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}:4:5 (at /hosts/web-1/port): inventory: must be integer`);
    const r2 = await runCli(['push', fleet, '--inventory', bad.replace('bad', 'bad2')]);
    expect(r2.code).toBe(1);
    writeFileSync(bad, ['hosts:', '  web-1:', '    address: 127.0.0.1', 'groups:', '  web: [web-1, web-9]', ''].join('\n'));
    const r3 = await runCli(['push', fleet, '--inventory', bad, '--format', 'json']);
    expect(r3.code).toBe(1);
    expect(JSON.parse(r3.stdout).errors[0]).toMatchObject({ code: 'MANIFEST_INVALID', location: { file: bad, line: 5, column: 16, pointer: '/groups/web/1' } });
    writeFileSync(bad, ['hosts:', '  web-1:', '    address: 127.0.0.1', ''].join('\n'));
    const r4 = await runCli(['push', fleet, '--inventory', bad, '--limit', 'nope*']);
    expect(r4.code).toBe(1);
    expect(r4.stderr).toContain('--limit nope* matches no host or group');
    const r5 = await runCli(['push', path.join(base, 'no-such-fleet'), '--inventory', bad]);
    expect(r5.code).toBe(1);
    expect(r5.stderr).toContain(`cannot read ${path.join(base, 'no-such-fleet')}`);
  });
});
