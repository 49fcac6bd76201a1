/**
 * The agent as a real process (short --interval) against the real Docker engine and a
 * temp root, never calling apply: drift repaired and marked corrective, a manifest
 * edit applied and marked intentional, disable holding through several intervals,
 * enable resuming, SIGHUP, status, the metrics file checked by promtool, noop, and a
 * clean SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, containerInfo, createSandbox, docker, dockerSnapshot, requireDocker, runCli, type Sandbox } from '../support/harness.js';
import { byId, nextReport, reports, startAgent, waitFor, type AgentProcess } from '../support/agent.js';

let sb: Sandbox;
let agent: AgentProcess | undefined;
beforeAll(() => {
  requireDocker();
  sb = createSandbox('ha');
});
afterAll(async () => {
  if (agent && agent.child.exitCode === null) {
    agent.child.kill('SIGKILL');
    await agent.exited;
  }
  sb?.cleanup();
});

const manifest = (name: string, id: string, content: string): string => `
resources:
  - kind: docker.container
    name: ${name}
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${id} }
    stopTimeout: 1
  - kind: file
    name: app-conf
    path: /etc/app.conf
    content: "${content}\\n"
`;

function promtool(file: string): string {
  return execFileSync('promtool', ['check', 'metrics'], { input: readFileSync(file), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

describe('tsconverge agent', () => {
  it('repairs drift (corrective), applies edits (intentional), holds while disabled, resumes when enabled', async () => {
    const name = `${sb.id}-web`;
    const stateDir = path.join(sb.root, 'state');
    const metrics = path.join(sb.root, 'metrics', 'tsconverge.prom');
    const conf = path.join(sb.root, 'etc/app.conf');
    const m = sb.manifest(manifest(name, sb.id, 'v1'));
    // --no-watch: this test is about the schedule (watching: agent-watch.test.ts).
    agent = startAgent(['--manifests', m, '--root', sb.root, '--state-dir', stateDir, '--interval', '2s', '--metrics-file', metrics, '--no-watch']);

    // The run at start converges everything: all intentional (nothing was applied before).
    const first = await nextReport(stateDir, 0);
    expect(first, agent.stderr()).toMatchObject({
      outcome: 'run',
      trigger: 'start',
      exitCode: 2,
      cachedCatalogue: false,
      agent: { enabled: true },
      changes: { intentional: 2, corrective: 0 },
    });
    expect(containerInfo(name).status).toBe('running');
    expect(readFileSync(conf, 'utf8')).toBe('v1\n');
    const seen = reports(stateDir).length;

    // A container removed by hand is back after the next scheduled run, marked corrective.
    docker('rm', '-f', name);
    const repair = await nextReport(stateDir, seen, (r) => r.summary.changed > 0);
    expect(repair).toMatchObject({ trigger: 'schedule', exitCode: 2, changes: { intentional: 0, corrective: 1 } });
    expect(byId(repair)[`docker.container[${name}]`]).toMatchObject({ action: 'create', status: 'changed', cause: 'corrective', seen: { by: 'sweep' } });
    expect(byId(repair)['file[app-conf]'].status).toBe('unchanged');
    expect(containerInfo(name).status).toBe('running');
    // ... and in the metrics file, which promtool parses.
    await waitFor(
      'metrics of the corrective run',
      () => existsSync(metrics) && readFileSync(metrics, 'utf8').includes('tsconverge_agent_changes{cause="corrective"} 1'),
    );
    expect(promtool(metrics)).toBe('');
    const text = readFileSync(metrics, 'utf8');
    for (const line of [
      'tsconverge_agent_enabled 1',
      'tsconverge_agent_last_run_exit_code 2',
      'tsconverge_agent_resources{status="changed"} 1',
      'tsconverge_agent_failures{type="resource"} 0',
      'tsconverge_agent_cached_catalogue 0',
    ])
      expect(text).toContain(line);
    expect(text).toMatch(/tsconverge_agent_build_info\{version="[^"]+",nodejs="[^"]+",node="[^"]+"\} 1/);
    expect(text).toMatch(/tsconverge_agent_catalogue_age_seconds \d/);
    expect(text).toMatch(/tsconverge_agent_next_run_timestamp_seconds \d/);

    // A manifest edited between runs is applied at the next run, marked intentional.
    sb.manifest(manifest(name, sb.id, 'v2'));
    const edit = await nextReport(stateDir, reports(stateDir).length, (r) => r.summary.changed > 0);
    expect(edit).toMatchObject({ changes: { intentional: 1, corrective: 0 } });
    expect(byId(edit)['file[app-conf]']).toMatchObject({ action: 'update', status: 'changed', cause: 'intentional' });
    expect(readFileSync(conf, 'utf8')).toBe('v2\n');
    const catalogueV2 = edit.catalogueDigest;
    expect(catalogueV2).not.toBe(first.catalogueDigest);

    // Disabled: several intervals pass with zero changes, each skip reported with the reason.
    const off = await runCli(['agent', 'disable', '--reason', 'change window CHG-42', '--state-dir', stateDir]);
    expect(off.code, off.stderr).toBe(0);
    // A run already in flight when it was disabled may still finish: wait for the first skip.
    await nextReport(stateDir, reports(stateDir).length, (r) => r.outcome === 'skipped', 20_000);
    const before = reports(stateDir).length;
    docker('rm', '-f', name);
    writeFileSync(conf, 'edited by hand\n');
    const world = dockerSnapshot(`tsconverge-test=${sb.id}`);
    await nextReport(
      stateDir,
      before,
      () =>
        reports(stateDir)
          .slice(before)
          .filter((r) => r.outcome === 'skipped').length >= 3,
      40_000,
    );
    const skipped = reports(stateDir).slice(before);
    for (const r of skipped) {
      expect(r).toMatchObject({ outcome: 'skipped', exitCode: 1, resources: [], agent: { enabled: false, disabledReason: 'change window CHG-42' } });
      expect(r.agent.disabledBy).toBeTruthy();
      expect(r.agent.disabledSince).toMatch(/^\d{4}-/);
    }
    expect(readFileSync(conf, 'utf8')).toBe('edited by hand\n');
    expect(dockerSnapshot(`tsconverge-test=${sb.id}`)).toBe(world);
    expect(agent.stderr()).toMatch(/agent disabled by .* since .*: change window CHG-42; run skipped/);
    const st = await runCli(['status', '--state-dir', stateDir]);
    expect(st.stdout).toMatch(/agent: +disabled since .* by .*: change window CHG-42/);
    expect(st.stdout).toMatch(/next run: \d{4}-/);
    expect(st.stdout).toContain('skipped: agent disabled (change window CHG-42)');
    await waitFor('metrics of a skipped run', () => readFileSync(metrics, 'utf8').includes('tsconverge_agent_enabled 0'));

    // Enabled: the next run repairs both, corrective.
    const on = await runCli(['agent', 'enable', '--state-dir', stateDir]);
    expect(on.stdout).toContain('agent enabled (was disabled by');
    const resumed = await nextReport(stateDir, reports(stateDir).length, (r) => r.outcome === 'run');
    expect(resumed).toMatchObject({ exitCode: 2, catalogueDigest: catalogueV2, changes: { intentional: 0, corrective: 2 } });
    expect(containerInfo(name).status).toBe('running');
    expect(readFileSync(conf, 'utf8')).toBe('v2\n');

    // status: enabled, the last run with its digest, counts, and the next run.
    const status = await runCli(['status', '--state-dir', stateDir, '--format', 'json']);
    expect(status.json).toMatchObject({ enabled: true, agent: { running: true, pid: agent.pid }, lastRun: { outcome: 'run' } });
    expect(Date.parse(status.json.nextRunAt)).toBeGreaterThan(Date.now() - 3000);

    // SIGHUP runs now.
    const n = reports(stateDir).length;
    agent.child.kill('SIGHUP');
    const hup = await nextReport(stateDir, n, (r) => r.trigger === 'signal', 20_000);
    expect(hup).toMatchObject({ outcome: 'run', exitCode: 0 });

    // SIGTERM: exit 0, no lock left, stopped recorded.
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(existsSync(path.join(stateDir, 'run.lock'))).toBe(false);
    expect((await runCli(['status', '--state-dir', stateDir])).stdout).toMatch(/process: +not running \(last pid \d+, stopped /);
    // Bounded history: reports beyond --keep-reports are removed, oldest first.
    const all = reports(stateDir).length;
    const keep = await runCli(['agent', '--onetime', '--manifests', m, '--root', sb.root, '--state-dir', stateDir, '--keep-reports', '3']);
    expect(keep.code, keep.stderr).toBe(0);
    const left = reports(stateDir);
    expect(all).toBeGreaterThan(3);
    expect(left).toHaveLength(3);
    expect(left[2].trigger).toBe('onetime');
  });

  it('--noop --onetime reports pending drift by cause, changes nothing, exits 2; a disabled --onetime exits 1', async () => {
    const name = `${sb.id}-noop`;
    const stateDir = path.join(sb.root, 'state-noop');
    const m = sb.write('noop/manifest.yaml', manifest(name, sb.id, 'n1').replace('/etc/app.conf', '/etc/noop.conf'));
    const args = ['--onetime', '--manifests', m, '--root', sb.root, '--state-dir', stateDir];
    const first = await runCli(['agent', ...args]);
    expect(first.code, first.stderr).toBe(2);
    rmSync(path.join(sb.root, 'etc/noop.conf'));
    const world = dockerSnapshot(`tsconverge-test=${sb.id}`);
    const noop = await runCli(['agent', ...args, '--noop']);
    expect(noop.code, noop.stderr).toBe(2);
    const r = reports(stateDir).at(-1);
    expect(r).toMatchObject({ noop: true, summary: { pending: 1, changed: 0 }, changes: { corrective: 1, intentional: 0 } });
    expect(byId(r)['file[app-conf]']).toMatchObject({ status: 'pending', cause: 'corrective' });
    expect(existsSync(path.join(sb.root, 'etc/noop.conf'))).toBe(false);
    expect(dockerSnapshot(`tsconverge-test=${sb.id}`)).toBe(world);

    expect((await runCli(['agent', 'disable', '--reason', 'maintenance', '--state-dir', stateDir])).code).toBe(0);
    const off = await runCli(['agent', ...args]);
    expect(off.code).toBe(1);
    expect(off.stderr).toContain('maintenance; run skipped');
    expect(existsSync(path.join(sb.root, 'etc/noop.conf'))).toBe(false);
    expect((await runCli(['agent', 'disable', '--reason', ' ', '--state-dir', stateDir])).code).toBe(1);
  });

  it('logs readable lines with the sd-daemon priority prefix when stderr is the journal, or with --journald', async () => {
    const m = sb.write(
      'journal/manifest.yaml',
      'resources:\n  - kind: file\n    name: /etc/journal.conf\n    content: "j\\n"\n  - kind: file\n    name: /etc/token\n    content: "s3cr3t-agent-value"\n    sensitive: true\n    mode: "0600"\n',
    );
    const stateDir = path.join(sb.root, 'state-journal');
    const log = path.join(sb.root, 'journal.log');
    // JOURNAL_STREAM names stderr's device:inode (systemd.exec(5)); here stderr is a file we made.
    const fd = openSync(log, 'w');
    const st = fstatSync(fd);
    const child = spawn(process.execPath, [BIN, 'agent', '--onetime', '--manifests', m, '--root', sb.root, '--state-dir', stateDir], {
      env: { ...process.env, JOURNAL_STREAM: `${st.dev}:${st.ino}` },
      stdio: ['ignore', 'ignore', fd],
    });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    closeSync(fd);
    expect(code).toBe(2);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) expect(l).toMatch(/^<[3467]>/);
    expect(lines.some((l) => l.startsWith('<6>info: run '))).toBe(true);
    // Not the journal (JOURNAL_STREAM of another file): plain lines; --journald forces the prefix.
    const plain = await runCli(['agent', '--onetime', '--manifests', m, '--root', sb.root, '--state-dir', stateDir], { JOURNAL_STREAM: '1:2' });
    expect(plain.stderr).toMatch(/^info: /m);
    expect(plain.stderr).not.toMatch(/^</m);
    const forced = await runCli(['agent', '--onetime', '--journald', '--manifests', m, '--root', sb.root, '--state-dir', stateDir]);
    expect(forced.stderr).toMatch(/^<6>info: run .*exit 0/m);
    // The secret is in no report, summary or log (the last-known-good holds it, 0600).
    writeFileSync(path.join(sb.root, 'etc/token'), 'drifted');
    const drift = await runCli(['agent', '--onetime', '--log-level', 'debug', '--manifests', m, '--root', sb.root, '--state-dir', stateDir]);
    expect(drift.code).toBe(2);
    expect(byId(reports(stateDir).at(-1))['file[/etc/token]']).toMatchObject({ status: 'changed', cause: 'corrective' });
    const texts = [
      drift.stderr,
      drift.stdout,
      readFileSync(log, 'utf8'),
      readFileSync(path.join(stateDir, 'last_run_summary.json'), 'utf8'),
      ...reports(stateDir).map((r) => JSON.stringify(r)),
    ];
    for (const t of texts) expect(t).not.toContain('s3cr3t');
  });
});
