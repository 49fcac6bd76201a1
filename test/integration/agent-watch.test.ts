/**
 * The watching agent (issue 29) as a real process, against the real Docker engine, real
 * files under a temp root: a container removed, disconnected or updated by hand, a
 * managed file replaced by `mv` and edited by `sed -i`, each repaired by a run started by
 * the event (trigger `event`, long before the 30-minute sweep) and attributed to what was
 * seen; tsconverge's own changes start no run; a flapping container hits the rate limit;
 * a noop agent reports and changes nothing. Everything waits on reports, the metrics file
 * and log lines, never on a fixed sleep. (The engine restart: agent-watch-dockerd.test.ts.)
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { containerInfo, createSandbox, docker, dockerSnapshot, requireDocker, runCli, type Sandbox } from '../support/harness.js';
import { byId, nextReport, reports, startAgent, waitFor, type AgentProcess } from '../support/agent.js';

let sb: Sandbox;
const agents: AgentProcess[] = [];
beforeAll(() => {
  requireDocker();
  sb = createSandbox('i29');
});
afterEach(async () => {
  for (const a of agents.splice(0))
    if (a.child.exitCode === null) {
      a.child.kill('SIGTERM');
      await a.exited;
    }
  // Containers that keep restarting by themselves (the flapping one, the OOM one) would move the noop test's snapshot.
  for (const n of ['flap', 'oom'])
    try {
      docker('rm', '-f', `${sb.id}-${n}`);
    } catch {
      /* not made here */
    }
});
afterAll(() => sb?.cleanup());

const metricValue = (file: string, line: string): number | undefined => {
  if (!existsSync(file)) return undefined;
  const m = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(line + ' '));
  return m === undefined ? undefined : Number(m.slice(line.length + 1));
};

function setup(tag: string, yaml: string, extra: string[] = []): { stateDir: string; metrics: string; agent: AgentProcess; args: string[] } {
  const stateDir = path.join(sb.root, `state-${tag}`);
  const metrics = path.join(sb.root, `metrics-${tag}`, 'tsconverge.prom');
  const m = sb.write(`${tag}/manifest.yaml`, yaml);
  const args = ['--manifests', m, '--root', sb.root, '--state-dir', stateDir, '--interval', '30m', '--metrics-file', metrics, '--log-level', 'debug', ...extra];
  const agent = startAgent(args);
  agents.push(agent);
  return { stateDir, metrics, agent, args };
}

const eventRuns = (stateDir: string): any[] => reports(stateDir).filter((r) => r.trigger === 'event');

/** Wait for a report; on a timeout the agent's log is in the error. */
async function waitReport(agent: AgentProcess, stateDir: string, after: number, pred: (r: any) => boolean, timeoutMs = 30_000): Promise<any> {
  try {
    return await nextReport(stateDir, after, pred, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- agent log:\n${agent.stderr()}`);
  }
}

describe('tsconverge agent: watching', () => {
  it('a container removed by hand is back in seconds, the report and status say destroy and when; own changes start no run', async () => {
    const name = `${sb.id}-web`;
    const { stateDir, metrics, agent } = setup(
      'rm',
      `
resources:
  - kind: docker.container
    name: ${name}
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${sb.id} }
    stopTimeout: 1
  - kind: file
    name: motd
    path: /etc/i29-rm/motd
    content: "hello\\n"
`,
    );
    const first = await nextReport(stateDir, 0);
    expect(first, agent.stderr()).toMatchObject({ trigger: 'start', exitCode: 2 });
    await waitFor('the engine events subscribed', () => agent.stderr().includes('watch: engine events subscribed'));
    const before = containerInfo(name).id;

    const removedAt = Date.now();
    docker('rm', '-f', name);
    const repair = await waitReport(agent, stateDir, 1, (r) => r.trigger === 'event');
    const tookMs = Date.now() - removedAt;
    const c = byId(repair)[`docker.container[${name}]`];
    expect(repair, agent.stderr()).toMatchObject({
      outcome: 'run',
      exitCode: 2,
      changes: { intentional: 0, corrective: 1 },
      event: { marked: [`docker.container[${name}]`] },
    });
    // Only what the event marked ran: the file was not part of it.
    expect(repair.resources.map((r: any) => r.id)).toEqual([`docker.container[${name}]`]);
    expect(c).toMatchObject({
      action: 'create',
      status: 'changed',
      cause: 'corrective',
      seen: { by: 'event', event: { source: 'docker', type: 'container', action: 'destroy', name } },
    });
    expect(Date.parse(c.seen.event.time)).toBeGreaterThanOrEqual(removedAt - 1000);
    expect(c.seen.afterMs).toBeGreaterThan(0);
    expect(c.seen.event.attributes).not.toHaveProperty('tsconverge-test'); // labels never reach the report
    expect(tookMs).toBeLessThan(15_000); // seconds, not the 30-minute sweep
    const now = containerInfo(name);
    expect(now.status).toBe('running');
    expect(now.id).not.toBe(before);

    // `tsconverge status` says what was seen and when it was restored.
    const st = await runCli(['status', '--state-dir', stateDir, '--root', sb.root]);
    expect(st.stdout).toMatch(new RegExp(`corrective: docker\\.container\\[${name}\\] destroyed at \\d\\d:\\d\\d:\\d\\d; restored \\d+\\.\\d s later`));

    // The metrics: one event run, its repair time, the container running.
    await waitFor(
      'the watch metrics',
      () => metricValue(metrics, 'tsconverge_agent_event_runs_total') === 1 && metricValue(metrics, `tsconverge_container_running{container="${name}"}`) === 1,
    );
    expect(metricValue(metrics, 'tsconverge_agent_event_repair_seconds_count')).toBe(1);
    expect(execFileSync('promtool', ['check', 'metrics'], { input: readFileSync(metrics), encoding: 'utf8' })).toBe('');

    // Own changes: the agent's own write of the file (a rename in its directory) is seen and
    // ignored, and no run follows it. A file edited by hand afterwards is the next event run,
    // and it marks the file alone.
    const conf = path.join(sb.root, 'etc/i29-rm/motd');
    const runs = eventRuns(stateDir).length;
    const ownBefore = metricValue(metrics, 'tsconverge_agent_watch_events_total{kind="own"}') ?? 0;
    writeFileSync(conf, 'edited\n');
    const fileRun = await waitReport(agent, stateDir, reports(stateDir).length, (r) => r.trigger === 'event' && r.event?.marked?.includes('file[motd]'));
    expect(fileRun.event.marked).toEqual(['file[motd]']);
    expect(readFileSync(conf, 'utf8')).toBe('hello\n');
    await waitFor('its own write counted as own', () => (metricValue(metrics, 'tsconverge_agent_watch_events_total{kind="own"}') ?? 0) > ownBefore);
    // A marker event after the own write: its run is the very next one (no run was started by the own write).
    docker('update', '--memory', '64m', '--memory-swap', '-1', name);
    const marker = await waitReport(agent, stateDir, reports(stateDir).length, (r) => r.trigger === 'event');
    expect(eventRuns(stateDir).length).toBe(runs + 2);
    expect(marker.event.marked).toEqual([`docker.container[${name}]`]);
  }, 90_000);

  it('a network disconnect and a memory limit changed by hand are repaired and attributed', async () => {
    const name = `${sb.id}-api`;
    const net = `${sb.id}-net`;
    const { stateDir, agent } = setup(
      'net',
      `
resources:
  - kind: docker.network
    name: ${net}
    labels: { tsconverge-test: ${sb.id} }
  - kind: docker.container
    name: ${name}
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${sb.id} }
    networks: [{ name: ${net} }]
    memory: 32m
    stopTimeout: 1
`,
    );
    await nextReport(stateDir, 0);
    await waitFor('the engine events subscribed', () => agent.stderr().includes('watch: engine events subscribed'));
    const id = containerInfo(name).id;

    docker('network', 'disconnect', net, name);
    const reconnect = await waitReport(agent, stateDir, 1, (r) => r.trigger === 'event');
    const rc = byId(reconnect)[`docker.container[${name}]`];
    expect(rc, agent.stderr()).toMatchObject({
      status: 'changed',
      cause: 'corrective',
      seen: { by: 'event', event: { source: 'docker', type: 'network', action: 'disconnect', name: net } },
    });
    expect(docker('inspect', '--format', '{{json .NetworkSettings.Networks}}', name)).toContain(net);
    expect(containerInfo(name).id).toBe(id); // reconnected in place

    const seen = reports(stateDir).length;
    docker('update', '--memory', '48m', name);
    const update = await waitReport(agent, stateDir, seen, (r) => r.trigger === 'event');
    const uc = byId(update)[`docker.container[${name}]`];
    expect(uc).toMatchObject({ status: 'changed', cause: 'corrective', seen: { by: 'event', event: { action: 'update', name } } });
    expect(docker('inspect', '--format', '{{.HostConfig.Memory}}', name)).toBe(String(32 * 1024 * 1024));
  }, 90_000);

  it('a managed file replaced by mv and edited by sed -i is repaired each time: the watch survives the new inode (--in-process)', async () => {
    const { stateDir, agent } = setup(
      'file',
      `
resources:
  - kind: file
    name: app-conf
    path: /etc/i29-app/app.conf
    content: "port=80\\n"
    mode: "0644"
`,
      ['--in-process'],
    ); // the runs in the agent process: the other runner (the rest run a process per run)
    await nextReport(stateDir, 0);
    await waitFor('the directory watched', () => agent.stderr().includes('watch: 1 managed path(s) in 1 directory'));
    const conf = path.join(sb.root, 'etc/i29-app/app.conf');
    expect(readFileSync(conf, 'utf8')).toBe('port=80\n');

    const other = path.join(sb.root, 'etc/i29-app/.other');
    writeFileSync(other, 'port=8080\nextra\n', { mode: 0o600 });
    execFileSync('mv', [other, conf]);
    const mv = await waitReport(agent, stateDir, 1, (r) => r.trigger === 'event');
    expect(byId(mv)['file[app-conf]'], agent.stderr()).toMatchObject({
      status: 'changed',
      cause: 'corrective',
      seen: { by: 'event', event: { source: 'file', path: '/etc/i29-app/app.conf', event: 'rename', exists: true, mode: '0600', size: 16 } },
    });
    expect(readFileSync(conf, 'utf8')).toBe('port=80\n');

    const n = reports(stateDir).length;
    execFileSync('sed', ['-i', 's/80/81/', conf]);
    const sed = await waitReport(agent, stateDir, n, (r) => r.trigger === 'event');
    expect(byId(sed)['file[app-conf]']).toMatchObject({
      status: 'changed',
      cause: 'corrective',
      seen: { by: 'event', event: { source: 'file', exists: true } },
    });
    expect(readFileSync(conf, 'utf8')).toBe('port=80\n');

    // And again: still watched after two replacements.
    const m = reports(stateDir).length;
    execFileSync('sed', ['-i', 's/80/82/', conf]);
    await waitReport(agent, stateDir, m, (r) => r.trigger === 'event');
    expect(readFileSync(conf, 'utf8')).toBe('port=80\n');
  }, 90_000);

  it('a container that dies in a loop hits the rate limit: the event runs stay bounded, the rest is left to the sweep', async () => {
    const name = `${sb.id}-flap`;
    const { stateDir, metrics, agent } = setup(
      'flap',
      `
resources:
  - kind: docker.container
    name: ${name}
    image: local/busybox:1
    command: [sh, -c, "sleep 0.3; exit 3"]
    restart: always
    labels: { tsconverge-test: ${sb.id} }
    stopTimeout: 1
`,
      ['--watch-debounce', '300ms', '--watch-burst', '2', '--watch-every', '2s', '--watch-max', '4'],
    );
    await nextReport(stateDir, 0);
    // The cap counts event runs per interval; a scheduled run starts a new one. So: at most 4
    // event runs between two scheduled runs, whenever the sweep comes (on a loaded machine the
    // container's restart backoff spreads its events, and a sweep may come before many drop).
    const boundedPerInterval = (): void => {
      let inInterval = 0;
      for (const r of reports(stateDir)) {
        if (r.trigger === 'schedule') inInterval = 0;
        else if (r.trigger === 'event') expect(++inInterval, 'event runs between two scheduled runs').toBeLessThanOrEqual(4);
      }
    };
    await waitFor('the rate limit to leave events to the sweep', () => agent.stderr().includes('rate limit: 4 event runs this interval'), 60_000);
    await waitFor('dropped events in the metrics', () => (metricValue(metrics, 'tsconverge_agent_watch_events_total{kind="dropped"}') ?? 0) >= 1, 60_000).catch(
      (e: Error) => {
        throw new Error(`${e.message}\n${agent.stderr()}`);
      },
    );
    expect(agent.stderr()).toMatch(/rate limit: 4 event runs this interval; \d+ event\(s\) on docker\.container\[[^\]]+\] left to the sweep/);
    boundedPerInterval();
    // The container keeps dying; its restarts are counted from the same event stream.
    await waitFor('restarts seen', () => (metricValue(metrics, `tsconverge_container_restarts_seen_total{container="${name}"}`) ?? 0) >= 2, 30_000);
    const die = eventRuns(stateDir)
      .flatMap((r) => r.resources)
      .find((r: any) => r.seen?.event?.action === 'die');
    if (die) expect(die.seen.event.exitCode).toBe(3);
    boundedPerInterval();
  }, 120_000);

  it('an OOM kill is seen: it marks the container, and the metrics count it', async () => {
    const name = `${sb.id}-oom`;
    const { stateDir, metrics, agent } = setup(
      'oom',
      `
resources:
  - kind: docker.container
    name: ${name}
    image: local/busybox:1
    command: [busybox, tail, /dev/zero]
    memory: 16m
    labels: { tsconverge-test: ${sb.id} }
    stopTimeout: 1
`,
      ['--watch-debounce', '300ms', '--watch-burst', '1', '--watch-every', '1h', '--watch-max', '1'],
    );
    await nextReport(stateDir, 0);
    // tail of /dev/zero keeps it all (no newline): the kernel kills it at its 16 MiB limit, then again after each start.
    await waitFor('the OOM kill seen', () => agent.stderr().includes(`watch: container ${name} oom marks docker.container[${name}]`), 60_000).catch(
      (e: Error) => {
        throw new Error(`${e.message}\n${agent.stderr()}`);
      },
    );
    await waitFor('the OOM kill counted', () => (metricValue(metrics, `tsconverge_container_oom_kills_seen_total{container="${name}"}`) ?? 0) >= 1, 30_000);
    await waitFor('its event run', () => eventRuns(stateDir).find((r) => r.event?.marked?.includes(`docker.container[${name}]`)), 30_000);
    // (A run's process rewrites the file; the agent adds its watch lines back right after.)
    await waitFor('the container state in the metrics', () => metricValue(metrics, `tsconverge_container_running{container="${name}"}`) !== undefined, 30_000);
    expect(eventRuns(stateDir).length).toBeLessThanOrEqual(1);
  }, 120_000);

  it('a --noop agent watches and reports what it saw, and changes nothing', async () => {
    const name = `${sb.id}-noop`;
    const yaml = `
resources:
  - kind: docker.container
    name: ${name}
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${sb.id} }
    stopTimeout: 1
  - kind: file
    name: noop-conf
    path: /etc/i29-noop/app.conf
    content: "v1\\n"
`;
    // Converged (and recorded) by a real run first, so what drifts afterwards is corrective.
    const m = sb.write('noop-apply/manifest.yaml', yaml);
    const noopState = path.join(sb.root, 'state-noop');
    const once = await runCli(['agent', '--onetime', '--manifests', m, '--root', sb.root, '--state-dir', noopState]);
    expect(once.code, once.stderr).toBe(2);
    const { agent } = setup('noop', yaml, ['--noop']);
    await nextReport(noopState, 1);
    await waitFor('the noop agent subscribed', () => agent.stderr().includes('watch: engine events subscribed'), 30_000);
    const conf = path.join(sb.root, 'etc/i29-noop/app.conf');
    docker('rm', '-f', name);
    writeFileSync(conf, 'by hand\n');
    const world = dockerSnapshot(`tsconverge-test=${sb.id}`);
    const pendingWith = (id: string): any =>
      eventRuns(noopState)
        .map((r) => byId(r)[id])
        .find((x) => x?.status === 'pending' && x.seen?.by === 'event');
    const c = await waitFor('the container reported pending with its event', () => pendingWith(`docker.container[${name}]`), 20_000);
    const f = await waitFor('the file reported pending with its event', () => pendingWith('file[noop-conf]'), 20_000);
    expect(eventRuns(noopState).every((r) => r.noop === true)).toBe(true);
    expect(c).toMatchObject({ cause: 'corrective', seen: { event: { action: 'destroy' } } });
    expect(f).toMatchObject({ cause: 'corrective', seen: { event: { source: 'file', exists: true, size: 8 } } });
    expect(() => containerInfo(name)).toThrow();
    expect(readFileSync(conf, 'utf8')).toBe('by hand\n');
    expect(dockerSnapshot(`tsconverge-test=${sb.id}`)).toBe(world);
  }, 90_000);
});
