/**
 * contrib/systemd/tsconverge-agent.service under a real systemd: a Debian 12 container
 * (scripts/systemd-image.sh, built once and cached as tsconverge-test/systemd:bookworm)
 * boots systemd as PID 1, with the single executable dist/tsconverge and the Docker
 * socket bind-mounted. The unit file is installed as shipped, with a drop-in for the
 * test's paths and a short RestartSec (as an operator would: `systemctl edit`). Then:
 * `systemctl start` runs the agent and it converges (a container on the real engine, a
 * file under its root, a systemd service through the `service` kind's systemd backend);
 * `systemctl reload` (SIGHUP) runs it again and repairs drift; the journal keeps each
 * line's priority; a kill -9 is restarted by Restart=on-failure; `systemctl stop` stops it
 * cleanly (exit 0, no lock left, the last report written).
 *
 * The container is not --privileged (this machine's own container lacks CAP_SYS_RESOURCE,
 * which --privileged asks for): all capabilities but that one, a private cgroup namespace
 * (systemd writes only its own cgroup, never the host's), unconfined seccomp/AppArmor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO, containerInfo, createSandbox, docker, requireDocker, type Sandbox } from '../support/harness.js';
import { waitFor } from '../support/agent.js';

const IMAGE = process.env.TSCONVERGE_SYSTEMD_IMAGE ?? 'tsconverge-test/systemd:bookworm';
const EXE = path.join(REPO, 'dist/tsconverge');
const UNIT = path.join(REPO, 'contrib/systemd/tsconverge-agent.service');

let sb: Sandbox;
let box = '';
const sh = (cmd: string): string => execFileSync('docker', ['exec', box, 'sh', '-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const shCode = (cmd: string): number => {
  try {
    sh(cmd);
    return 0;
  } catch (err) {
    return (err as { status?: number }).status ?? 1;
  }
};
const show = (prop: string): string => sh(`systemctl show -p ${prop} --value tsconverge-agent`);
const summary = (): any => {
  try {
    return JSON.parse(sh('cat /var/lib/tsconverge/last_run_summary.json'));
  } catch {
    return undefined;
  }
};

beforeAll(() => {
  requireDocker();
  if (!existsSync(EXE)) throw new Error(`${EXE} is missing: run \`npm run build\` (scripts/setup.sh does)`);
  // Cached: does nothing when the image exists (scripts/setup.sh builds it).
  execFileSync(path.join(REPO, 'scripts/systemd-image.sh'), { stdio: 'inherit', timeout: 600_000 });
  sb = createSandbox('hm');
  box = `${sb.id}-systemd`;
  docker(
    'run',
    '-d',
    '--name',
    box,
    '--label',
    sb.label,
    '--hostname',
    `${sb.id}-host`,
    '--cap-add',
    'ALL',
    '--cap-drop',
    'SYS_RESOURCE',
    '--security-opt',
    'seccomp=unconfined',
    '--security-opt',
    'apparmor=unconfined',
    '--cgroupns',
    'private',
    '--tmpfs',
    '/run',
    '--tmpfs',
    '/run/lock',
    '-v',
    `${EXE}:/usr/local/bin/tsconverge:ro`,
    '-v',
    '/var/run/docker.sock:/var/run/docker.sock',
    IMAGE,
  );
}, 660_000);

afterAll(() => {
  sb?.cleanup(); // the systemd container and what the agent created carry the sandbox's label
});

const manifest = (content: string): string => `
resources:
  - kind: docker.container
    name: ${sb.id}-web
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${sb.id} }
    stopTimeout: 1
  - kind: file
    name: app-conf
    path: /etc/app.conf
    content: "${content}\\n"
  - kind: service
    name: hm-sleeper
    provider: systemd
    enable: true
`;

describe("the agent's systemd unit under a real systemd", () => {
  it('start converges, reload runs again, the journal keeps priorities, kill -9 restarts, stop is clean; the service kind drives systemd', async () => {
    await waitFor(
      'systemd to finish booting',
      () => {
        try {
          return /^(running|degraded)$/.test(sh('systemctl is-system-running || true'));
        } catch {
          return false;
        }
      },
      60_000,
      250,
    );
    expect(sh('cat /proc/1/comm')).toBe('systemd');

    // A unit for the `service` kind to manage (systemd backend): a sleeper, installed disabled and stopped.
    sh(
      `printf '[Unit]\\nDescription=hm sleeper\\n[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/hm-sleeper.service`,
    );
    // The unit as shipped, and a drop-in with this test's catalogue, root, interval and restart delay.
    docker('cp', UNIT, `${box}:/etc/systemd/system/tsconverge-agent.service`);
    sh('mkdir -p /etc/tsconverge/manifests /etc/systemd/system/tsconverge-agent.service.d /srv/root');
    sh(`cat > /etc/tsconverge/manifests/manifest.yaml <<'EOF'\n${manifest('v1')}\nEOF`);
    sh(
      `printf '[Service]\\nExecStart=\\nExecStart=/usr/local/bin/tsconverge agent --manifests /etc/tsconverge/manifests --root /srv/root --state-dir /var/lib/tsconverge --interval 1h --timeout 60 --metrics-file /var/lib/tsconverge/tsconverge.prom\\nRestartSec=1s\\n' > /etc/systemd/system/tsconverge-agent.service.d/test.conf`,
    );
    sh('systemctl daemon-reload');
    expect(sh('systemd-analyze verify /etc/systemd/system/tsconverge-agent.service 2>&1 || true')).not.toMatch(/tsconverge-agent\.service:\d+:/);
    expect(sh('systemctl is-active hm-sleeper || true')).toBe('inactive');

    // systemctl start: the run at start converges everything.
    sh('systemctl start tsconverge-agent');
    const first = await waitFor('the run at start', () => summary()?.trigger === 'start' && summary(), 90_000, 250);
    expect(first, sh('journalctl -u tsconverge-agent --no-pager | tail -30')).toMatchObject({
      outcome: 'run',
      exitCode: 2,
      changes: { intentional: 3, corrective: 0 },
    });
    expect(containerInfo(`${sb.id}-web`).status).toBe('running');
    expect(sh('cat /srv/root/etc/app.conf')).toBe('v1');
    expect(sh('systemctl is-active hm-sleeper')).toBe('active');
    expect(sh('systemctl is-enabled hm-sleeper')).toBe('enabled');
    const mainPid = Number(show('MainPID'));
    expect(mainPid).toBeGreaterThan(0);
    expect(sh('cat /var/lib/tsconverge/tsconverge.prom')).toMatch(/^tsconverge_agent_changes\{cause="intentional"\} 3$/m);

    // Drift: the container removed by hand is seen by the watching agent and repaired at once (an event run).
    docker('rm', '-f', `${sb.id}-web`);
    const event = await waitFor('the event run', () => summary()?.trigger === 'event' && summary(), 60_000, 250);
    expect(event).toMatchObject({ outcome: 'run', exitCode: 2, changes: { intentional: 0, corrective: 1 } });
    expect(event.corrective?.[0]).toMatch(/destroyed at/);
    // The service stopped by hand (not watched): `systemctl reload` (SIGHUP) runs now and repairs it.
    sh('systemctl stop hm-sleeper');
    sh('systemctl reload tsconverge-agent');
    const again = await waitFor('the run after reload', () => summary()?.trigger === 'signal' && summary(), 60_000, 250);
    expect(again).toMatchObject({ outcome: 'run', exitCode: 2, changes: { intentional: 0, corrective: 1 } });
    expect(sh('systemctl is-active hm-sleeper')).toBe('active');
    expect(containerInfo(`${sb.id}-web`).status).toBe('running');
    expect(Number(show('MainPID'))).toBe(mainPid);

    // The journal keeps each line's level: info lines at priority 6; a disabled agent's skip is a warning (4).
    sh('tsconverge agent disable --state-dir /var/lib/tsconverge --reason "hm change window"');
    sh('systemctl reload tsconverge-agent');
    await waitFor('the skipped run', () => summary()?.outcome === 'skipped', 30_000, 250);
    sh('tsconverge agent enable --state-dir /var/lib/tsconverge');
    const entries = sh('journalctl -u tsconverge-agent -o json --no-pager')
      .split('\n')
      .map((l) => JSON.parse(l) as { PRIORITY: string; MESSAGE: string; SYSLOG_IDENTIFIER?: string; _PID?: string });
    const agentLines = entries.filter((e) => e.SYSLOG_IDENTIFIER === 'tsconverge-agent');
    expect(agentLines.find((e) => e.MESSAGE.startsWith('info: agent started'))?.PRIORITY).toBe('6');
    expect(agentLines.find((e) => e.MESSAGE.includes('hm change window') && e.MESSAGE.startsWith('warn:'))?.PRIORITY).toBe('4');
    // Lines of the run's child process land under the unit too, with their priority.
    expect(agentLines.some((e) => /^info: run \w+ \(start\)/.test(e.MESSAGE) && e.PRIORITY === '6' && Number(e._PID) !== mainPid)).toBe(true);
    expect(agentLines.every((e) => !/^<\d>/.test(e.MESSAGE))).toBe(true);

    // kill -9: Restart=on-failure starts it again (RestartSec=1s in the drop-in), and its run at start converges.
    sh('systemctl kill -s SIGKILL --kill-whom=main tsconverge-agent');
    await waitFor(
      'the restart',
      () => {
        const p = Number(show('MainPID'));
        return p > 0 && p !== mainPid && show('ActiveState') === 'active';
      },
      30_000,
      250,
    );
    expect(Number(show('NRestarts'))).toBe(1);
    await waitFor('the run at restart', () => summary()?.trigger === 'start' && summary()?.startedAt > again.startedAt && summary(), 60_000, 250);
    expect(summary()).toMatchObject({ outcome: 'run', exitCode: 0 });

    // systemctl stop: SIGTERM to the agent (KillMode=process); it exits 0, no lock left, the state says stopped.
    sh('systemctl stop tsconverge-agent');
    expect(show('ActiveState')).toBe('inactive');
    expect(show('Result')).toBe('success');
    expect(show('ExecMainStatus')).toBe('0');
    expect(shCode('test -e /var/lib/tsconverge/run.lock')).not.toBe(0);
    expect(JSON.parse(sh('cat /var/lib/tsconverge/agent.json'))).toMatchObject({ stoppedAt: expect.any(String), nextRunAt: null });
    expect(sh('tsconverge status --state-dir /var/lib/tsconverge')).toMatch(/agent:\s+enabled/);
    // No process of the unit is left behind (the run's child process included).
    expect(sh('pgrep -f "[t]sconverge agent" || true')).toBe('');
  }, 300_000);
});
