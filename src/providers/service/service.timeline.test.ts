/**
 * service (process backend: this machine has no systemd) through the real CLI, with a
 * real process: apply -> started; again -> nothing; killed by hand -> noop reports it,
 * exit 2, nothing started; apply -> running again. ensure: stopped stops it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { alive, cli, readPidfile, reported, tempRoot, waitUntil } from '../hostio.testkit.js';

let t: ReturnType<typeof tempRoot>;
let root: string;
const pids: number[] = [];
beforeAll(() => {
  t = tempRoot('service-timeline');
  root = path.join(t.root, 'root');
});
afterAll(() => {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  t?.cleanup();
});

function manifest(ensure: string): string {
  const file = path.join(t.root, `service-${ensure}.yaml`);
  writeFileSync(
    file,
    `
resources:
  - kind: service
    name: web
    ensure: ${ensure}
    start: [/bin/sh, -c, "echo up; trap 'exit 0' TERM; while :; do sleep 0.1; done"]
    pidfile: /run/web.pid
    logFile: /var/log/web.log
`,
  );
  return file;
}

describe('service timeline (process backend)', () => {
  const pidfile = (): string => path.join(root, 'run/web.pid');

  it('apply -> started; again -> nothing; killed by hand -> noop reports, starts nothing; apply -> running; stopped', async () => {
    const m = manifest('running');
    const run = (...extra: string[]) => cli(['apply', m, '--root', root, '--format', 'json', ...extra]);
    const first = await run();
    expect(first.code, first.stdout + first.stderr).toBe(2);
    expect(reported(first, 'service[web]')).toMatchObject({
      action: 'update',
      status: 'changed',
      changes: [{ attribute: 'ensure', from: 'stopped', to: 'running' }],
    });
    const pid1 = readPidfile(pidfile());
    pids.push(pid1);
    expect(alive(pid1)).toBe(true);

    const second = await run();
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(readPidfile(pidfile())).toBe(pid1);

    process.kill(pid1, 'SIGKILL');
    await waitUntil(() => !alive(pid1));
    const noop = await run('--noop');
    expect(noop.code, noop.stdout + noop.stderr).toBe(2);
    expect(reported(noop, 'service[web]')).toMatchObject({ status: 'pending', changes: [{ attribute: 'ensure', from: 'stopped', to: 'running' }] });
    expect(readPidfile(pidfile())).toBe(pid1); // the stale pidfile is left as it was

    const repair = await run();
    expect(repair.code, repair.stdout + repair.stderr).toBe(2);
    const pid2 = readPidfile(pidfile());
    pids.push(pid2);
    expect(pid2).not.toBe(pid1);
    expect(alive(pid2)).toBe(true);

    const stop = await cli(['apply', manifest('stopped'), '--root', root, '--format', 'json']);
    expect(stop.code, stop.stdout + stop.stderr).toBe(2);
    expect(alive(pid2)).toBe(false);
    expect(existsSync(pidfile())).toBe(false);
    expect((await cli(['apply', manifest('stopped'), '--root', root])).code).toBe(0);
  });
});
