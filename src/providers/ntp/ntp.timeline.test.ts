/**
 * ntp through the real CLI against a temp root, with a real chronyd (run with -x: it
 * never touches the clock; port 0 and cmdport 0: it opens no server ports) managed by
 * a `service` that the ntp resource notifies.
 *
 * Timeline: apply -> changed; again -> nothing; a hand edit -> noop reports it (and the
 * pending restart), exit 2, nothing touched; apply -> repaired and chronyd restarted.
 * Failures: a config chronyd rejects, and a missing chronyd, each exit 4 with a clear
 * error, leave chrony.conf byte-identical and do not restart chronyd.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { alive, cli, fingerprint, readPidfile, reported, tempRoot } from '../hostio.testkit.js';

let t: ReturnType<typeof tempRoot>;
let root: string;
beforeAll(() => {
  t = tempRoot('ntp-timeline');
  root = path.join(t.root, 'root');
});
afterAll(() => {
  try {
    process.kill(readPidfile(path.join(root, 'run/chronyd.pid')), 'SIGTERM');
  } catch {
    /* not running */
  }
  t?.cleanup();
});

function manifest(name: string, ntp: string): string {
  const file = path.join(t.root, name);
  writeFileSync(
    file,
    `
resources:
  - kind: ntp
    name: time
${ntp}
    driftfile: ${root}/var/lib/chrony/chrony.drift
    extraLines:
      - port 0
      - cmdport 0
      - bindcmdaddress /
      - pidfile ${root}/run/chronyd.pid
    notify: service[chronyd]
  - kind: service
    name: chronyd
    provider: process
    start: [/usr/sbin/chronyd, -d, -x, -u, root, -f, ${root}/etc/chrony/chrony.conf]
    pidfile: /run/chronyd.pid
    writesPidfile: true
    logFile: /var/log/chronyd.log
`,
  );
  return file;
}

describe('ntp timeline with a real chronyd', () => {
  const conf = 'etc/chrony/chrony.conf';
  const pid = (): number => readPidfile(path.join(root, 'run/chronyd.pid'));

  it('apply -> changed; again -> nothing; drift -> noop reports, touches nothing; apply -> repaired and restarted', async () => {
    const m = manifest('ntp.yaml', '    servers: [127.0.0.1]\n    allow: [10.0.0.0/8]');
    const run = (...extra: string[]) => cli(['apply', m, '--root', root, '--format', 'json', ...extra]);

    const first = await run();
    expect(first.code, first.stdout + first.stderr).toBe(2);
    expect(reported(first, 'ntp[time]')).toMatchObject({ action: 'create', status: 'changed' });
    expect(reported(first, 'service[chronyd]')).toMatchObject({ status: 'changed' });
    expect(readFileSync(path.join(root, conf), 'utf8')).toContain('server 127.0.0.1 iburst\nmakestep 1 3\nallow 10.0.0.0/8\n');
    const pid1 = pid();
    expect(alive(pid1)).toBe(true);

    const converged = fingerprint(root, [conf]);
    const second = await run();
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(fingerprint(root, [conf])).toBe(converged);
    expect(pid()).toBe(pid1);

    writeFileSync(path.join(root, conf), readFileSync(path.join(root, conf), 'utf8').replace('allow 10.0.0.0/8', 'allow 0.0.0.0/0'));
    const drifted = fingerprint(root, [conf]);
    const noop = await run('--noop');
    expect(noop.code, noop.stdout + noop.stderr).toBe(2);
    expect(reported(noop, 'ntp[time]')).toMatchObject({
      action: 'update',
      status: 'pending',
      changes: [{ attribute: 'allow', from: ['0.0.0.0/0'], to: ['10.0.0.0/8'] }],
    });
    expect(reported(noop, 'service[chronyd]')).toMatchObject({ status: 'pending', refresh: true });
    expect(fingerprint(root, [conf])).toBe(drifted);
    expect(pid()).toBe(pid1);

    const repair = await run();
    expect(repair.code, repair.stdout + repair.stderr).toBe(2);
    expect(readFileSync(path.join(root, conf), 'utf8')).toContain('allow 10.0.0.0/8\n');
    expect(reported(repair, 'service[chronyd]')).toMatchObject({ refresh: true, status: 'changed' });
    const pid2 = pid();
    expect(pid2).not.toBe(pid1);
    expect(alive(pid2)).toBe(true);
    expect(alive(pid1)).toBe(false);
  });

  it('a config chronyd rejects: exit 4, clear error, chrony.conf byte-identical, chronyd not restarted', async () => {
    const before = fingerprint(root, [conf]);
    const pid1 = pid();
    const m = manifest('ntp-bad.yaml', '    servers: [127.0.0.1]\n    allow: [not-a-subnet]');
    const run = await cli(['apply', m, '--root', root, '--format', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(4);
    expect(reported(run, 'ntp[time]')).toMatchObject({
      status: 'failed',
      error: {
        code: 'CONFIG_REJECTED',
        message: expect.stringMatching(/chronyd rejected the new configuration: .*allow directive.*"allow not-a-subnet".*left unchanged/),
      },
    });
    expect(reported(run, 'service[chronyd]')).toMatchObject({ status: 'skipped' });
    expect(fingerprint(root, [conf])).toBe(before);
    expect(pid()).toBe(pid1);
    expect(alive(pid1)).toBe(true);
  });

  it('a missing chronyd: exit 4, clear error, nothing written, chronyd not restarted', async () => {
    const before = fingerprint(root, [conf]);
    const pid1 = pid();
    const m = manifest('ntp-moved.yaml', '    servers: [127.0.0.2]');
    const PATH = [path.dirname(process.execPath), '/usr/bin', '/bin'].join(':');
    const run = await cli(['apply', m, '--root', root, '--format', 'json'], { env: { PATH } });
    expect(run.code, run.stdout + run.stderr).toBe(4);
    expect(reported(run, 'ntp[time]')).toMatchObject({
      status: 'failed',
      error: { message: expect.stringContaining('chronyd (Debian package chrony) was found on PATH') },
    });
    expect(reported(run, 'service[chronyd]')).toMatchObject({ status: 'skipped' });
    expect(fingerprint(root, [conf])).toBe(before);
    expect(pid()).toBe(pid1);
  });
});
