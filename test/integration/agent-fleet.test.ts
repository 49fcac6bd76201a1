/**
 * The agent on a fleet tree (--manifests FLEET --node NAME), a real process on real
 * files: the tree is compiled fresh at every run; a tree broken between runs leads to
 * a run on the last-known-good catalogue, reported as such with the compile error (and
 * it still repairs drift); a fixed tree is used again; with no last-known-good, a
 * broken tree means the run does not happen (exit 1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { createSandbox, runCli, type Sandbox } from '../support/harness.js';
import { byId, nextReport, reports, startAgent, type AgentProcess } from '../support/agent.js';

let sb: Sandbox;
let agent: AgentProcess | undefined;
beforeAll(() => {
  sb = createSandbox('ha-fleet');
});
afterAll(async () => {
  if (agent && agent.child.exitCode === null) {
    agent.child.kill('SIGKILL');
    await agent.exited;
  }
  sb?.cleanup();
});

const SITE = `
roles:
  base:
    modules: [motd]
nodes:
  - glob: "ha-*"
    role: base
`;
const MODULE = `
description: A message of the day.
parameters:
  text:
    type: string
    default: hello
    description: The text.
resources:
  - kind: file
    name: motd
    path: /etc/motd
    content: "{{params.text}}\\n"
`;

describe('the agent on a fleet tree', () => {
  it('runs the last-known-good catalogue while the tree is broken, and says so', async () => {
    const fleet = path.join(sb.dir, 'fleet');
    sb.write('fleet/modules/motd/module.yaml', MODULE);
    sb.write('fleet/environments/production/manifests/site.yaml', SITE);
    sb.write('fleet/environments/production/data/common.yaml', 'motd:\n  text: "welcome to production"\n');
    const stateDir = path.join(sb.root, 'state');
    const motd = path.join(sb.root, 'etc/motd');
    agent = startAgent(['--manifests', fleet, '--node', 'ha-web-1', '--root', sb.root, '--state-dir', stateDir, '--interval', '2s']);
    const first = await nextReport(stateDir, 0);
    expect(first, agent.stderr()).toMatchObject({ outcome: 'run', node: 'ha-web-1', exitCode: 2, cachedCatalogue: false });
    expect(readFileSync(motd, 'utf8')).toBe('welcome to production\n');
    const lkg = path.join(stateDir, 'catalogue/last-known-good.json');
    expect((statSync(lkg).mode & 0o777).toString(8)).toBe('600');

    // Break the tree (a YAML error) and drift the host: the next run uses the last-known-good.
    sb.write('fleet/environments/production/manifests/site.yaml', SITE.replace('modules: [motd]', 'modules: [motd'));
    rmSync(motd);
    const seen = reports(stateDir).length;
    const cached = await nextReport(stateDir, seen);
    expect(cached).toMatchObject({
      outcome: 'run',
      cachedCatalogue: true,
      catalogueDigest: first.catalogueDigest,
      exitCode: 2,
      changes: { corrective: 1, intentional: 0 },
    });
    expect(cached.catalogueError.message).toContain('site.yaml');
    expect(byId(cached)['file[motd]']).toMatchObject({ action: 'create', cause: 'corrective' });
    expect(readFileSync(motd, 'utf8')).toBe('welcome to production\n');
    expect(agent.stderr()).toMatch(/the fresh catalogue failed; running the last-known-good sha256:/);
    const status = await runCli(['status', '--state-dir', stateDir]);
    expect(status.stdout).toContain(`catalogue ${first.catalogueDigest} (LAST-KNOWN-GOOD: the fresh catalogue failed)`);
    expect(status.stdout).toMatch(/catalogue error: 1 error in the manifests:\s+\S*site\.yaml:5:1/);

    // Fixed, with a new value: fresh again, the change intentional.
    sb.write('fleet/environments/production/manifests/site.yaml', SITE);
    sb.write('fleet/environments/production/data/common.yaml', 'motd:\n  text: "new text"\n');
    const fresh = await nextReport(stateDir, reports(stateDir).length, (r) => !r.cachedCatalogue);
    expect(fresh).toMatchObject({ cachedCatalogue: false, changes: { intentional: 1, corrective: 0 } });
    expect(fresh.catalogueError).toBeUndefined();
    expect(readFileSync(motd, 'utf8')).toBe('new text\n');
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);

    // With no last-known-good, a broken tree: the run does not happen (exit 1), reported.
    sb.write('fleet/environments/production/manifests/site.yaml', 'roles: [\n');
    const empty = path.join(sb.root, 'state-empty');
    const none = await runCli(['agent', '--onetime', '--manifests', fleet, '--node', 'ha-web-2', '--root', sb.root, '--state-dir', empty]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no last-known-good catalogue');
    expect(reports(empty).at(-1)).toMatchObject({ outcome: 'not-run', exitCode: 1, catalogueDigest: null, error: { code: 'MANIFEST_PARSE' } });
    expect(existsSync(path.join(empty, 'catalogue/last-known-good.json'))).toBe(false);
  });
});
