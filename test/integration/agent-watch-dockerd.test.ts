/**
 * The watching agent across an engine restart, on a throwaway engine of its own: its own
 * data root, exec root, pid file and unix socket under a temp dir, in its own network
 * namespace (`ip netns` + `nsenter --net`, as docs TEST_ENV says for a throwaway engine),
 * without a bridge or iptables rules. The network namespace is not optional: a dockerd
 * started with `--bridge none` in the machine's namespace deletes the machine's `docker0`
 * (libnetwork's removeDefaultBridgeInterface), which breaks the shared engine's default
 * network. The engine is stopped and started again, and the container is removed by hand
 * as soon as it answers: the agent resubscribes with `since`, sees that the engine
 * restarted (a gap its history cannot bridge), runs everything, and the container is back.
 *
 * And a break of the stream alone (the engine stays up): the agent talks to the shared
 * engine through a real unix-socket relay of the test's own, which drops every connection
 * for a while; a container removed meanwhile is replayed by the engine from `since`, and
 * repaired by a targeted run, attributed to its destroy event: nothing lost, no full run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSandbox, requireDocker, type Sandbox } from '../support/harness.js';
import { byId, nextReport, reports, startAgent, waitFor, type AgentProcess } from '../support/agent.js';

let sb: Sandbox;
let agent: AgentProcess | undefined;
let engine: ChildProcess | undefined;
const dir = mkdtempSync(path.join(tmpdir(), 'i29-dockerd-'));
const netns = `i29-${path.basename(dir).slice(-6)}`;
const sock = path.join(dir, 'sock');
const env = { DOCKER_HOST: `unix://${sock}` };
const dk = (...args: string[]): string =>
  execFileSync('docker', args, { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }).trim();

async function startEngine(): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const log = openSync(path.join(dir, 'dockerd.log'), 'a');
  engine = spawn(
    'nsenter',
    [
      `--net=/var/run/netns/${netns}`,
      'dockerd',
      '--data-root',
      path.join(dir, 'data'),
      '--exec-root',
      path.join(dir, 'exec'),
      '--pidfile',
      path.join(dir, 'pid'),
      '--host',
      `unix://${sock}`,
      '--bridge',
      'none',
      '--iptables=false',
      '--ip-masq=false',
    ],
    { stdio: ['ignore', log, log] },
  );
  await waitFor(
    'the throwaway engine to answer',
    () => {
      try {
        dk('info', '--format', '{{.ID}}');
        return true;
      } catch {
        return false;
      }
    },
    60_000,
    250,
  );
}

async function stopEngine(): Promise<void> {
  const e = engine;
  if (!e || e.exitCode !== null) return;
  const gone = new Promise((r) => e.once('exit', r));
  e.kill('SIGTERM');
  await gone;
}

beforeAll(async () => {
  requireDocker();
  sb = createSandbox('i29');
  execFileSync('ip', ['netns', 'add', netns]);
  await startEngine();
  execFileSync('sh', ['-c', `docker save local/busybox:1 | DOCKER_HOST=unix://${sock} docker load`], { stdio: 'ignore' });
}, 120_000);

afterAll(async () => {
  if (agent && agent.child.exitCode === null) {
    agent.child.kill('SIGTERM');
    await agent.exited;
  }
  try {
    const ids = dk('ps', '-aq');
    if (ids) dk('rm', '-f', ...ids.split('\n'));
  } catch {
    /* engine gone */
  }
  await stopEngine();
  try {
    execFileSync('ip', ['netns', 'delete', netns]);
  } catch {
    /* not made */
  }
  rmSync(dir, { recursive: true, force: true });
  sb?.cleanup();
}, 120_000);

describe('tsconverge agent: watching across an engine restart', () => {
  it('resubscribes with since, treats the restart as a gap, and repairs a container removed meanwhile', async () => {
    const name = `${sb.id}-box`;
    const stateDir = path.join(sb.root, 'state');
    const m = sb.manifest(`
resources:
  - kind: docker.container
    name: ${name}
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${sb.id} }
    stopTimeout: 1
`);
    agent = startAgent(['--manifests', m, '--root', sb.root, '--state-dir', stateDir, '--interval', '30m'], env);
    const first = await nextReport(stateDir, 0);
    expect(first, agent.stderr()).toMatchObject({ trigger: 'start', exitCode: 2 });
    await waitFor('the engine events subscribed', () => agent!.stderr().includes('watch: engine events subscribed'));
    expect(dk('inspect', '--format', '{{.State.Status}}', name)).toBe('running');

    await stopEngine();
    await waitFor('the stream lost', () => agent!.stderr().includes('watch: engine event stream lost'));
    await startEngine();
    // Removed by hand as soon as the new engine answers (the agent is still retrying).
    dk('rm', '-f', name);

    await waitFor('resubscribed since the last event', () => /watch: engine events resubscribed since \d+\.\d{9}/.test(agent!.stderr()), 30_000);
    // (A first resubscription may reach the old engine on its way down; the new one is a gap.)
    await waitFor('the restart seen as a gap', () => agent!.stderr().includes('the engine restarted (its socket is new)'), 30_000);
    // A gap: a run of everything (trigger event, no marked list), whatever the events replayed since then.
    const full = await nextReport(stateDir, 1, (r) => r.trigger === 'event' && r.event === undefined, 30_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${agent!.stderr()}`);
    });
    expect(full.outcome).toBe('run');
    // The container removed meanwhile is back, created again by a run that marks it corrective
    // (the full run, or the run of its replayed destroy event when that came first).
    const repair = await nextReport(stateDir, 1, (r) => byId(r)[`docker.container[${name}]`]?.action === 'create', 30_000);
    expect(byId(repair)[`docker.container[${name}]`]).toMatchObject({ status: 'changed', cause: 'corrective' });
    await waitFor('the container running', () => dk('inspect', '--format', '{{.State.Status}}', name) === 'running', 30_000);
    expect(reports(stateDir).length).toBeGreaterThanOrEqual(2);
  }, 180_000);
});

describe('tsconverge agent: watching across a broken event stream', () => {
  it('resumes with since and replays what happened while the stream was down', async () => {
    const relay = path.join(dir, 'relay.sock');
    let down = false;
    const open = new Set<net.Socket>();
    const server = net.createServer((c) => {
      if (down) {
        c.destroy();
        return;
      }
      const up = net.connect('/var/run/docker.sock');
      open.add(c);
      open.add(up);
      c.pipe(up);
      up.pipe(c);
      const close = (): void => {
        c.destroy();
        up.destroy();
        open.delete(c);
        open.delete(up);
      };
      c.on('error', close);
      up.on('error', close);
      c.on('close', close);
      up.on('close', close);
    });
    await new Promise<void>((r) => server.listen(relay, r));
    const name = `${sb.id}-relay`;
    const stateDir = path.join(sb.root, 'state-relay');
    const m = sb.write(
      'relay/manifest.yaml',
      `
resources:
  - kind: docker.container
    name: ${name}
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${sb.id} }
    stopTimeout: 1
`,
    );
    const a = startAgent(['--manifests', m, '--root', sb.root, '--state-dir', stateDir, '--interval', '30m'], { DOCKER_HOST: `unix://${relay}` });
    try {
      await nextReport(stateDir, 0);
      await waitFor('the engine events subscribed', () => a.stderr().includes('watch: engine events subscribed'));
      down = true;
      for (const c of open) c.destroy();
      await waitFor('the stream lost', () => a.stderr().includes('watch: engine event stream lost'));
      execFileSync('docker', ['rm', '-f', name], { stdio: 'ignore' }); // on the engine itself, while the agent cannot see it
      down = false;
      await waitFor('resubscribed since the last event', () => /watch: engine events resubscribed since \d+\.\d{9}/.test(a.stderr()), 30_000);
      const repair = await nextReport(stateDir, 1, (r) => r.trigger === 'event', 30_000).catch((e: Error) => {
        throw new Error(`${e.message}\n${a.stderr()}`);
      });
      expect(a.stderr()).not.toContain('a full run instead');
      expect(repair.event).toEqual({ marked: [`docker.container[${name}]`] });
      expect(byId(repair)[`docker.container[${name}]`]).toMatchObject({
        action: 'create',
        status: 'changed',
        cause: 'corrective',
        seen: { by: 'event', event: { action: 'destroy', name } },
      });
      expect(execFileSync('docker', ['inspect', '--format', '{{.State.Status}}', name], { encoding: 'utf8' }).trim()).toBe('running');
    } finally {
      if (a.child.exitCode === null) {
        a.child.kill('SIGTERM');
        await a.exited;
      }
      for (const c of open) c.destroy();
      await new Promise((r) => server.close(r));
    }
  }, 120_000);
});
