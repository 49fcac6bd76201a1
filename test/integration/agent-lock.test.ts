/**
 * The agent and the run lock, as real processes on real files: a manual apply during an
 * agent run is refused (the lock is held by the agent's run process); a lock left by a
 * kill -9'd agent and run is taken over; an agent killed alone leaves its run to stop
 * cleanly by itself; SIGTERM during
 * a run that writes 200 files leaves each file old or new (sha256), no temp file, no
 * lock, exit 0, and the next run converges.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createSandbox, runCli, type Sandbox } from '../support/harness.js';
import { acquireRunLock } from '../../src/engine/lock.js';
import { nextReport, reports, startAgent, waitFor, type AgentProcess } from '../support/agent.js';

let sb: Sandbox;
const agents: AgentProcess[] = [];
beforeAll(() => {
  sb = createSandbox('ha-lock');
});
afterAll(async () => {
  for (const a of agents)
    if (a.child.exitCode === null && a.child.signalCode === null) {
      a.child.kill('SIGKILL');
      await a.exited;
    }
  sb?.cleanup();
});

const run = (args: string[]): AgentProcess => {
  const a = startAgent(args);
  agents.push(a);
  return a;
};
const lockOf = (stateDir: string): string => path.join(stateDir, 'run.lock');
/** A run that holds the lock for a while: the file's validate command sleeps. */
const slow = (file: string, seconds: number, content = 'slow'): string => `
resources:
  - kind: file
    name: slow
    path: ${file}
    content: "${content}\\n"
    validate: "sleep ${seconds}"
`;

/** The pid holding the run lock: the agent's child process for the run (its parent is the agent). */
function runProcessOf(agentPid: number, stateDir: string): number {
  const pid = (JSON.parse(readFileSync(lockOf(stateDir), 'utf8')) as { pid: number }).pid;
  const ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
  expect(ppid).toBe(agentPid);
  return pid;
}

describe('the agent and the run lock', () => {
  it('a manual apply during an agent run is refused with the lock message and exit 1', async () => {
    const stateDir = path.join(sb.root, 'state-apply');
    const m = sb.write('apply/agent.yaml', slow('/etc/slow-apply', 8));
    const other = sb.write('apply-other/other.yaml', 'resources:\n  - kind: file\n    name: /etc/other\n    content: "x\\n"\n');
    const agent = run(['--manifests', m, '--root', sb.root, '--state-dir', stateDir, '--interval', '1h']);
    await waitFor('the agent to take the run lock', () => existsSync(lockOf(stateDir)), 20_000);
    // The run holds the lock in the agent's child process (one per run).
    const holder = runProcessOf(agent.pid, stateDir);
    const apply = await runCli(['apply', other, '--root', sb.root, '--state-dir', stateDir]);
    expect(apply.code).toBe(1);
    expect(apply.stderr).toMatch(new RegExp(`a run is already in progress \\(pid ${holder}, since \\d{4}-`));
    expect(existsSync(path.join(sb.root, 'etc/other'))).toBe(false);
    const first = await nextReport(stateDir, 0);
    expect(first).toMatchObject({ outcome: 'run', exitCode: 2 });
    await waitFor('the agent to release the run lock', () => !existsSync(lockOf(stateDir)), 10_000); // released right after the report is written
    // Now the lock is free: the same apply runs.
    expect((await runCli(['apply', other, '--root', sb.root, '--state-dir', stateDir])).code).toBe(2);
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
  });

  it('a run that finds the lock busy waits for it, then runs; past --lock-wait it is reported not run; SIGTERM while waiting', async () => {
    const stateDir = path.join(sb.root, 'state-wait');
    const quick = sb.write('wait-quick/quick.yaml', 'resources:\n  - kind: file\n    name: /etc/quick\n    content: "q\\n"\n');
    // The lock is held here, by this (live) process, as a manual apply would hold it.
    let held = await acquireRunLock(stateDir, { command: 'tsconverge apply (agent-lock.test)' });
    const agent = run(['--manifests', quick, '--root', sb.root, '--state-dir', stateDir, '--interval', '1h', '--lock-wait', '120s']);
    await waitFor('the agent to start', () => agent.stderr().includes('agent started'), 30_000);
    await waitFor('the agent to find the lock busy', () => agent.stderr().includes('for the run lock, held by pid'), 60_000);
    expect(reports(stateDir)).toEqual([]);
    expect(existsSync(path.join(sb.root, 'etc/quick'))).toBe(false);
    const releasedAt = Date.now();
    await held.release();
    const waited = await nextReport(stateDir, 0, () => true, 30_000);
    expect(waited).toMatchObject({ outcome: 'run', trigger: 'start', exitCode: 2 });
    // It started before the release and took the lock only after it: it waited, it was not lost.
    expect(Date.parse(waited.startedAt)).toBeLessThan(releasedAt);
    expect(Date.parse(waited.finishedAt)).toBeGreaterThanOrEqual(releasedAt);
    expect(waited.timings.lockWaitMs).toBeGreaterThan(0);
    expect(readFileSync(path.join(sb.root, 'etc/quick'), 'utf8')).toBe('q\n');
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);

    held = await acquireRunLock(stateDir, { command: 'tsconverge apply (agent-lock.test)' });
    try {
      // Bounded: with --lock-wait 1s the run gives up and says why.
      const late = await runCli(['agent', '--onetime', '--manifests', quick, '--root', sb.root, '--state-dir', stateDir, '--lock-wait', '1s']);
      expect(late.code).toBe(1);
      expect(late.stderr).toContain(`a run is already in progress (pid ${process.pid}, since ${held.info.since})`);
      expect(reports(stateDir).at(-1)).toMatchObject({ outcome: 'not-run', exitCode: 1, error: { code: 'RUN_IN_PROGRESS' } });

      // SIGTERM while waiting for the lock: exit 0 at once, reported as interrupted; the lock is untouched.
      const waiting = run(['--manifests', quick, '--root', sb.root, '--state-dir', stateDir, '--interval', '1h', '--lock-wait', '120s']);
      await waitFor('the agent to start', () => waiting.stderr().includes('agent started'), 30_000);
      const n = reports(stateDir).length;
      waiting.child.kill('SIGTERM');
      expect(await waiting.exited).toBe(0);
      expect(reports(stateDir).slice(n)).toMatchObject([{ outcome: 'not-run', interrupted: true, error: { code: 'INTERRUPTED' } }]);
      expect(JSON.parse(readFileSync(lockOf(stateDir), 'utf8')).pid).toBe(process.pid);
    } finally {
      await held.release();
    }
  });

  it("a lock left by a kill -9'd agent is taken over by the next agent", async () => {
    const stateDir = path.join(sb.root, 'state-kill');
    const m = sb.write('kill/agent.yaml', slow('/etc/slow-kill', 30));
    const dead = run(['--manifests', m, '--root', sb.root, '--state-dir', stateDir, '--interval', '1h']);
    await waitFor('the agent to take the run lock', () => existsSync(lockOf(stateDir)), 20_000);
    // SIGKILL for the agent and its run's process, as systemd does to the unit's processes
    // past TimeoutStopSec (a run's process whose agent alone is killed stops by itself, cleanly).
    const holder = runProcessOf(dead.pid, stateDir);
    process.kill(holder, 'SIGKILL');
    dead.child.kill('SIGKILL');
    await dead.exited;
    await waitFor(
      "the run's process to be gone",
      () => !existsSync(`/proc/${holder}`) || readFileSync(`/proc/${holder}/stat`, 'utf8').split(') ')[1]!.startsWith('Z'),
      10_000,
    );
    const left = JSON.parse(readFileSync(lockOf(stateDir), 'utf8'));
    expect(left.pid).toBe(holder);
    // The next agent (a short validate now) takes the stale lock over and converges.
    sb.write('kill/agent.yaml', slow('/etc/slow-kill', 0));
    const next = await runCli(['agent', '--onetime', '--manifests', m, '--root', sb.root, '--state-dir', stateDir, '--lock-wait', '5s']);
    expect(next.code, next.stderr).toBe(2);
    expect(readFileSync(path.join(sb.root, 'etc/slow-kill'), 'utf8')).toBe('slow\n');
    expect(existsSync(lockOf(stateDir))).toBe(false);
    expect(reports(stateDir).at(-1)).toMatchObject({ outcome: 'run', trigger: 'onetime' });
  });

  it('--in-process: the run holds the lock in the agent process itself; SIGHUP runs again; SIGTERM exits 0', async () => {
    const stateDir = path.join(sb.root, 'state-inproc');
    const m = sb.write('inproc/agent.yaml', slow('/etc/slow-inproc', 2));
    const agent = run(['--manifests', m, '--root', sb.root, '--state-dir', stateDir, '--interval', '1h', '--in-process']);
    await waitFor('the agent to take the run lock', () => existsSync(lockOf(stateDir)), 20_000);
    expect(JSON.parse(readFileSync(lockOf(stateDir), 'utf8')).pid).toBe(agent.pid);
    expect(await nextReport(stateDir, 0)).toMatchObject({ outcome: 'run', trigger: 'start', exitCode: 2 });
    agent.child.kill('SIGHUP');
    expect(await nextReport(stateDir, 1)).toMatchObject({ outcome: 'run', trigger: 'signal', exitCode: 0 });
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(existsSync(lockOf(stateDir))).toBe(false);
  });

  it("the agent alone killed -9: its run's process lets the resource in flight finish, reports, releases the lock, exits", async () => {
    const stateDir = path.join(sb.root, 'state-orphan');
    const m = sb.write(
      'orphan/agent.yaml',
      slow('/etc/slow-orphan', 3) +
        `
  - kind: file
    name: after
    path: /etc/after-orphan
    content: "after\\n"
    require: file[slow]
`,
    );
    const dead = run(['--manifests', m, '--root', sb.root, '--state-dir', stateDir, '--interval', '1h']);
    await waitFor('the agent to take the run lock', () => existsSync(lockOf(stateDir)), 20_000);
    const holder = runProcessOf(dead.pid, stateDir);
    dead.child.kill('SIGKILL');
    await dead.exited;
    // The run's process sees its agent gone, lets file[slow] (in flight) end, starts nothing new.
    const report = await nextReport(stateDir, 0, () => true, 30_000);
    expect(report).toMatchObject({ outcome: 'run', interrupted: true });
    const slowFile = path.join(sb.root, 'etc/slow-orphan');
    if (existsSync(slowFile)) expect(readFileSync(slowFile, 'utf8')).toBe('slow\n');
    expect(existsSync(path.join(sb.root, 'etc/after-orphan'))).toBe(false);
    await waitFor(
      "the run's process to exit",
      () => !existsSync(`/proc/${holder}`) || readFileSync(`/proc/${holder}/stat`, 'utf8').split(') ')[1]!.startsWith('Z'),
      10_000,
    );
    expect(existsSync(lockOf(stateDir))).toBe(false);
  });

  it('SIGTERM during a run writing 200 files: each file old or new, no temp file, no lock, exit 0; the next run converges', async () => {
    const stateDir = path.join(sb.root, 'state-term');
    const N = 200;
    const files = (v: string, validate: boolean): string =>
      'resources:\n' +
      Array.from(
        { length: N },
        (_, i) => `
  - kind: file
    name: f${i}
    path: /srv/many/f${String(i).padStart(3, '0')}.conf
    content: "${v} ${i} ${'x'.repeat(200)}\\n"${validate ? '\n    validate: "sleep 0.04"' : ''}`,
      ).join('') +
      '\n';
    const m = sb.write('term/many.yaml', files('old', false));
    const agent = run(['--manifests', m, '--root', sb.root, '--state-dir', stateDir, '--interval', '1h', '--concurrency', '2']);
    expect((await nextReport(stateDir, 0)).summary.changed).toBe(N);
    const dir = path.join(sb.root, 'srv/many');
    const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
    const old = new Map(Array.from({ length: N }, (_, i) => [`f${String(i).padStart(3, '0')}.conf`, sha(`old ${i} ${'x'.repeat(200)}\n`)]));
    const neu = new Map(Array.from({ length: N }, (_, i) => [`f${String(i).padStart(3, '0')}.conf`, sha(`new ${i} ${'x'.repeat(200)}\n`)]));
    const newCount = (): number =>
      [...neu].filter(([f, h]) => {
        try {
          return sha(readFileSync(path.join(dir, f), 'utf8')) === h;
        } catch {
          return false;
        }
      }).length;

    // The new version validates each file (40 ms): about 4 s for 200 at concurrency 2.
    sb.write('term/many.yaml', files('new', true));
    agent.child.kill('SIGHUP');
    await waitFor('the run to replace a few files', () => newCount() >= 5, 20_000, 20);
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);

    const names = readdirSync(dir).sort();
    expect(names.filter((f) => !old.has(f))).toEqual([]); // no temp file behind
    let n = 0;
    for (const f of names) {
      const h = sha(readFileSync(path.join(dir, f), 'utf8'));
      expect([old.get(f), neu.get(f)]).toContain(h);
      if (h === neu.get(f)) n++;
    }
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(N); // interrupted mid-run
    expect(existsSync(lockOf(stateDir))).toBe(false);
    const cut = reports(stateDir).at(-1);
    expect(cut).toMatchObject({ outcome: 'run', trigger: 'signal', interrupted: true });
    const interrupted = cut.resources.filter((r: any) => r.status === 'skipped');
    expect(interrupted.length).toBe(N - cut.summary.changed);
    expect(interrupted[0].error.code).toBe('INTERRUPTED');
    expect(agent.stderr()).toMatch(/SIGTERM: stopping after the resources in flight finish/);

    // The next run converges the rest (marked intentional: they were never applied).
    const again = await runCli(['agent', '--onetime', '--manifests', m, '--root', sb.root, '--state-dir', stateDir, '--concurrency', '8']);
    expect(again.code, again.stderr).toBe(2);
    const last = reports(stateDir).at(-1);
    expect(last.summary.changed).toBe(N - n);
    expect(last.changes).toEqual({ intentional: N - n, corrective: 0 });
    expect(newCount()).toBe(N);
  });
});
