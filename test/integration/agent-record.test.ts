/**
 * Per-process agent state (issue 22), with real agent processes: `agent --onetime` run
 * while a long-running agent is up leaves that agent's agent.json record alone, so
 * `status` still says it runs (and its pid is still the one to signal); a manual apply
 * while the agent is disabled warns that it changes the host anyway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createSandbox, runCli, type Sandbox } from '../support/harness.js';
import { reports, startAgent, waitFor, type AgentProcess } from '../support/agent.js';

let sb: Sandbox;
let agent: AgentProcess | undefined;
beforeAll(() => {
  sb = createSandbox('i22-record');
});
afterAll(async () => {
  if (agent && agent.child.exitCode === null) {
    agent.child.kill('SIGTERM');
    await agent.exited;
  }
  sb?.cleanup();
});

describe('agent.json belongs to the live agent', () => {
  it('agent --onetime beside a running agent does not overwrite its record; status stays right', async () => {
    const stateDir = path.join(path.dirname(sb.root), 'state');
    const m = sb.manifest('resources:\n  - kind: file\n    name: /srv/i22/a.txt\n    content: "a\\n"\n');
    agent = startAgent(['--manifests', m, '--root', sb.root, '--state-dir', stateDir, '--interval', '1h']);
    const record = path.join(stateDir, 'agent.json');
    await waitFor(
      'the first run and agent.json',
      () =>
        reports(stateDir).length >= 1 &&
        (() => {
          try {
            return JSON.parse(readFileSync(record, 'utf8')).nextRunAt !== null;
          } catch {
            return false;
          }
        })(),
    );
    const before = JSON.parse(readFileSync(record, 'utf8'));
    expect(before.pid).toBe(agent.pid);

    const once = await runCli(['agent', '--onetime', '--manifests', m, '--root', sb.root, '--state-dir', stateDir]);
    expect(once.code, once.stderr).toBe(0);
    expect(reports(stateDir).length).toBe(2);
    const after = JSON.parse(readFileSync(record, 'utf8'));
    expect(after).toEqual(before); // not the onetime's record, not "stopped"
    const status = await runCli(['status', '--state-dir', stateDir, '--format', 'json']);
    expect(status.json.agent).toMatchObject({ pid: agent.pid, running: true });
    expect(status.json.nextRunAt).toBe(before.nextRunAt);

    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    const stopped = JSON.parse(readFileSync(record, 'utf8'));
    expect(stopped).toMatchObject({ pid: before.pid, stoppedAt: expect.any(String) });
    // With no live agent, a onetime run records itself (stopped at once).
    const again = await runCli(['agent', '--onetime', '--manifests', m, '--root', sb.root, '--state-dir', stateDir]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(readFileSync(record, 'utf8')).pid).not.toBe(before.pid);
  }, 60_000);

  it('the agent refuses a catalogue with a sysctl key this kernel lacks before its run, with the location', async () => {
    const stateDir = path.join(path.dirname(sb.root), 'state3');
    const m = sb.write('sysctl.yaml', 'resources:\n  - kind: sysctl\n    name: net.ipv4.i22_no_such_key\n    value: "1"\n');
    const r = await runCli(['agent', '--onetime', '--manifests', m, '--root', sb.root, '--state-dir', stateDir]);
    expect(r.code, r.stderr).toBe(1);
    const [rep] = reports(stateDir);
    expect(rep).toMatchObject({ outcome: 'not-run', error: { code: 'SYSCTL_UNKNOWN_KEY' } });
    expect(rep.error.message).toContain(`${m}:3:5 (at /resources/0/name)`);
  }, 60_000);

  it('a manual apply while the agent is disabled warns, and applies', async () => {
    const stateDir = path.join(path.dirname(sb.root), 'state2');
    const m = sb.write('two.yaml', 'resources:\n  - kind: file\n    name: /srv/i22/b.txt\n    content: "b\\n"\n');
    const off = await runCli(['agent', 'disable', '--reason', 'change window CHG-22', '--state-dir', stateDir]);
    expect(off.code, off.stderr).toBe(0);
    const apply = await runCli(['apply', m, '--root', sb.root, '--state-dir', stateDir]);
    expect(apply.code, apply.stderr).toBe(2);
    expect(apply.stderr).toMatch(/the agent on this host is disabled by .* \(change window CHG-22\): this manual apply changes the host anyway/);
    const plan = await runCli(['plan', m, '--root', sb.root, '--state-dir', stateDir]);
    expect(plan.stderr).not.toMatch(/is disabled/);
    await runCli(['agent', 'enable', '--state-dir', stateDir]);
    const enabled = await runCli(['apply', m, '--root', sb.root, '--state-dir', stateDir]);
    expect(enabled.stderr).not.toMatch(/is disabled/);
  }, 60_000);
});
