/**
 * logging.rotate and logging.forward through the real CLI against a temp root, checked
 * by the real logrotate and rsyslogd, with a real process as the service they notify.
 *
 * Timeline: apply -> changed; again -> nothing; hand edits -> noop reports them, exit 2,
 * nothing touched; apply -> repaired. A rule logrotate rejects: exit 4, a clear error,
 * the old rule byte-identical, the subscribed service not restarted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { alive, cli, fingerprint, readPidfile, reported, tempRoot } from '../hostio.testkit.js';

let t: ReturnType<typeof tempRoot>;
let root: string;
beforeAll(() => {
  t = tempRoot('logging-timeline');
  root = path.join(t.root, 'root');
});
afterAll(() => {
  try {
    process.kill(readPidfile(path.join(root, 'run/tsconverge/app.pid')), 'SIGKILL');
  } catch {
    /* not running */
  }
  t?.cleanup();
});

function manifest(name: string, extra = ''): string {
  const file = path.join(t.root, name);
  writeFileSync(
    file,
    `
resources:
  - kind: logging.rotate
    name: app
    paths: [/var/log/app/*.log, /var/log/app/audit.log]
    frequency: daily
    rotate: 14
    maxsize: 100M
    compress: true
    delaycompress: true
    create: 0640 root adm
    postrotate: "kill -HUP $(cat /run/app.pid) 2>/dev/null || true"
${extra}
  - kind: logging.forward
    name: central
    target: 127.0.0.1
    port: 6514
    protocol: tcp
    selector: "*.info"
    parameters:
      queue.type: LinkedList
      action.resumeRetryCount: "-1"
  - kind: service
    name: app
    provider: process
    start: [/bin/sh, -c, "trap 'exit 0' TERM; while :; do sleep 0.1; done"]
    subscribe: ["logging.rotate[app]", "logging.forward[central]"]
`,
  );
  return file;
}

describe('logging timeline', () => {
  const files = ['etc/logrotate.d/app', 'etc/rsyslog.d/90-tsconverge-central.conf'];
  const pid = (): number => readPidfile(path.join(root, 'run/tsconverge/app.pid'));

  it('apply -> changed; again -> nothing; drift -> noop reports, touches nothing; apply -> repaired', async () => {
    const m = manifest('logging.yaml');
    const run = (...extra: string[]) => cli(['apply', m, '--root', root, '--format', 'json', ...extra]);
    const first = await run();
    expect(first.code, first.stdout + first.stderr).toBe(2);
    expect(reported(first, 'logging.rotate[app]')).toMatchObject({ action: 'create', status: 'changed' });
    expect(reported(first, 'logging.forward[central]')).toMatchObject({ action: 'create', status: 'changed' });
    expect(readFileSync(path.join(root, files[0]!), 'utf8')).toContain(
      '/var/log/app/*.log /var/log/app/audit.log {\n    daily\n    rotate 14\n    maxsize 100M\n    create 0640 root adm\n    compress\n    delaycompress\n    missingok\n    notifempty\n',
    );
    expect(readFileSync(path.join(root, files[1]!), 'utf8')).toContain(
      '*.info action(type="omfwd" target="127.0.0.1" port="6514" protocol="tcp" action.resumeRetryCount="-1" queue.type="LinkedList")\n',
    );
    const pid1 = pid();
    expect(alive(pid1)).toBe(true);

    const converged = fingerprint(root, files);
    const second = await run();
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(fingerprint(root, files)).toBe(converged);

    writeFileSync(path.join(root, files[0]!), readFileSync(path.join(root, files[0]!), 'utf8').replace('rotate 14', 'rotate 2').replace('    compress\n', ''));
    writeFileSync(path.join(root, files[1]!), readFileSync(path.join(root, files[1]!), 'utf8').replace('6514', '514'));
    const drifted = fingerprint(root, files);
    const noop = await run('--noop');
    expect(noop.code, noop.stdout + noop.stderr).toBe(2);
    expect(
      reported(noop, 'logging.rotate[app]')
        .changes.map((c) => [c.attribute, c.from, c.to])
        .sort(),
    ).toEqual([
      ['compress', undefined, true],
      ['rotate', 2, 14],
    ]);
    expect(reported(noop, 'logging.forward[central]').changes.map((c) => [c.attribute, c.from, c.to])).toEqual([['port', 514, 6514]]);
    expect(reported(noop, 'service[app]')).toMatchObject({ status: 'pending', refresh: true });
    expect(fingerprint(root, files)).toBe(drifted);
    expect(pid()).toBe(pid1);

    const repair = await run();
    expect(repair.code, repair.stdout + repair.stderr).toBe(2);
    expect(
      fingerprint(root, files)
        .split('\n')
        .map((l) => l.split(' ')[1]),
    ).toEqual(converged.split('\n').map((l) => l.split(' ')[1]));
    expect(pid()).not.toBe(pid1);
    expect((await run()).code).toBe(0);
  });

  it('a rule logrotate rejects: exit 4, clear error, old rule byte-identical, service not restarted', async () => {
    const before = fingerprint(root, files);
    const pid1 = pid();
    const m = manifest('logging-bad.yaml', '    extraLines: ["frobnicate yes"]');
    const run = await cli(['apply', m, '--root', root, '--format', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(4);
    expect(reported(run, 'logging.rotate[app]')).toMatchObject({
      status: 'failed',
      error: {
        code: 'CONFIG_REJECTED',
        message: expect.stringMatching(/logrotate rejected the new rule file: .*the new rule file:\d+ unknown option 'frobnicate'.*left unchanged/),
      },
    });
    expect(reported(run, 'logging.forward[central]')).toMatchObject({ status: 'unchanged' });
    expect(reported(run, 'service[app]')).toMatchObject({ status: 'skipped' });
    expect(fingerprint(root, files)).toBe(before);
    expect(pid()).toBe(pid1);
    expect(alive(pid1)).toBe(true);
  });
});
