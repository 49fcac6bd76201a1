/**
 * docker.daemon through the real CLI, restarting a SEPARATE Docker engine started for
 * this test (its own --data-root, --exec-root, --pidfile, socket and --config-file
 * inside the temp root; --bridge none, no iptables, no ip-forward), managed as a
 * `service` the docker.daemon resource notifies. The test engine runs in its own
 * network namespace (`unshare --net`, which execs dockerd: same pid): a second engine
 * in the machine's namespace deletes the machine's docker0 when it starts with
 * --bridge none. The machine's own engine at /var/run/docker.sock, and its docker0,
 * are never touched.
 *
 * Timeline: apply -> daemon.json written and the engine (re)started with it; again ->
 * nothing, same engine process; a hand edit -> noop reports it and the pending restart,
 * exit 2, nothing touched, same process; apply -> repaired and the engine restarted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { alive, cli, fingerprint, readPidfile, reported, tempRoot, waitUntil } from '../hostio.testkit.js';

const id = randomBytes(3).toString('hex');
const execRoot = `/tmp/tscd-${id}`;
const sock = `/tmp/tscd-${id}.sock`;
let t: ReturnType<typeof tempRoot>;
let root: string;

const engine = (...args: string[]): string =>
  execFileSync('docker', ['-H', `unix://${sock}`, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
/** The machine's docker0 as `ifindex address`, or 'absent'. */
const docker0 = (): string => {
  try {
    return execFileSync('ip', ['-o', 'link', 'show', 'docker0'], { encoding: 'utf8' }).split(':')[0]!;
  } catch {
    return 'absent';
  }
};
const ready = (): boolean => {
  try {
    engine('info', '--format', '{{.ServerVersion}}');
    return true;
  } catch {
    return false;
  }
};
/** Wait for the test engine to answer; on a timeout, say why from its log. */
async function engineReady(): Promise<void> {
  try {
    await waitUntil(ready, 60_000);
  } catch {
    let log = '';
    try {
      log = readFileSync(path.join(root, 'var/log/dockerd.log'), 'utf8')
        .split('\n')
        .filter((l) => !/grpc|Connectivity|plugin/.test(l))
        .slice(-15)
        .join('\n');
    } catch {
      /* no log */
    }
    throw new Error(`the test engine did not answer on ${sock} within 60 s; its log ends with:\n${log}`);
  }
}

beforeAll(() => {
  t = tempRoot('daemon-timeline');
  root = path.join(t.root, 'root');
});
afterAll(async () => {
  try {
    const pid = readPidfile(path.join(root, 'run/dockerd.pid'));
    process.kill(pid, 'SIGTERM');
    await waitUntil(() => !alive(pid), 30_000);
  } catch {
    /* not running */
  }
  for (const m of readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((p): p is string => !!p && (p.startsWith(root) || p.startsWith(execRoot)))
    .reverse()) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      /* already gone */
    }
  }
  rmSync(execRoot, { recursive: true, force: true });
  rmSync(sock, { force: true });
  t?.cleanup();
});

function manifest(): string {
  const file = path.join(t.root, 'daemon.yaml');
  writeFileSync(
    file,
    `
resources:
  - kind: docker.daemon
    name: engine
    logDriver: local
    logOpts: { max-size: 10m, max-file: "3" }
    liveRestore: true
    notify: service[dockerd]
  - kind: service
    name: dockerd
    provider: process
    start: [unshare, --net, dockerd, --data-root, ${root}/var/lib/docker, --exec-root, ${execRoot}, --pidfile, ${root}/run/dockerd.pid,
            --host, "unix://${sock}", --bridge, none, --iptables=false, --ip-forward=false, --ip-masq=false,
            --config-file, ${root}/etc/docker/daemon.json]
    pidfile: /run/dockerd.pid
    writesPidfile: true
    logFile: /var/log/dockerd.log
    stopTimeout: 30
`,
  );
  return file;
}

describe('docker.daemon timeline with a separate engine', () => {
  const conf = 'etc/docker/daemon.json';
  const pid = (): number => readPidfile(path.join(root, 'run/dockerd.pid'));

  it('apply -> written and restarted; again -> nothing; drift -> noop reports, touches nothing; apply -> repaired and restarted', async () => {
    const mainEngine = execFileSync('docker', ['info', '--format', '{{.ID}} {{.ContainersRunning}}'], { encoding: 'utf8' });
    const bridge = docker0();
    const m = manifest();
    const run = (...extra: string[]) => cli(['apply', m, '--root', root, '--format', 'json', ...extra]);

    const first = await run();
    expect(first.code, first.stdout + first.stderr).toBe(2);
    expect(reported(first, 'docker.daemon[engine]')).toMatchObject({ action: 'create', status: 'changed' });
    expect(reported(first, 'service[dockerd]')).toMatchObject({ status: 'changed' });
    expect(JSON.parse(readFileSync(path.join(root, conf), 'utf8'))).toEqual({
      'log-driver': 'local',
      'log-opts': { 'max-file': '3', 'max-size': '10m' },
      'live-restore': true,
    });
    await engineReady();
    expect(engine('info', '--format', '{{.LoggingDriver}} {{.LiveRestoreEnabled}}')).toBe('local true');
    const pid1 = pid();

    const converged = fingerprint(root, [conf]);
    const second = await run();
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(fingerprint(root, [conf])).toBe(converged);
    expect(pid()).toBe(pid1);

    writeFileSync(
      path.join(root, conf),
      JSON.stringify({ 'log-driver': 'json-file', 'log-opts': { 'max-file': '3', 'max-size': '10m' }, 'live-restore': true }),
    );
    const drifted = fingerprint(root, [conf]);
    const noop = await run('--noop');
    expect(noop.code, noop.stdout + noop.stderr).toBe(2);
    expect(reported(noop, 'docker.daemon[engine]')).toMatchObject({
      action: 'update',
      status: 'pending',
      changes: [{ attribute: 'logDriver', from: 'json-file', to: 'local' }],
    });
    expect(reported(noop, 'service[dockerd]')).toMatchObject({ status: 'pending', refresh: true });
    expect(fingerprint(root, [conf])).toBe(drifted);
    expect(pid()).toBe(pid1);
    expect(alive(pid1)).toBe(true);

    const repair = await run();
    expect(repair.code, repair.stdout + repair.stderr).toBe(2);
    expect(reported(repair, 'service[dockerd]')).toMatchObject({ refresh: true, status: 'changed' });
    expect(readFileSync(path.join(root, conf), 'utf8')).toBe(readFileSync(path.join(root, conf), 'utf8'));
    expect(JSON.parse(readFileSync(path.join(root, conf), 'utf8'))['log-driver']).toBe('local');
    const pid2 = pid();
    expect(pid2).not.toBe(pid1);
    expect(alive(pid1)).toBe(false);
    await engineReady();
    expect(engine('info', '--format', '{{.LoggingDriver}}')).toBe('local');

    // The machine's engine was never restarted, and its bridge is the same interface.
    expect(execFileSync('docker', ['info', '--format', '{{.ID}} {{.ContainersRunning}}'], { encoding: 'utf8' }).split(' ')[0]).toBe(mainEngine.split(' ')[0]);
    expect(docker0()).toBe(bridge);
  });
});
