/**
 * Ownership (issue 13): objects tsconverge did not create are refused with a message that
 * names their maker, adopted only with adopt: true (or --adopt) without being recreated,
 * and never removed or changed otherwise.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerInfo, createSandbox, docker, requireDocker, runCli, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
let net: string;
let ctr: string;
let vol: string;
let composeCtr: string;
beforeAll(() => {
  requireDocker();
  sb = createSandbox('hm-own');
  net = `hm-${sb.id}-net`;
  ctr = `hm-${sb.id}-c`;
  vol = `hm-${sb.id}-v`;
  composeCtr = `hm-${sb.id}-web`;
  // Made by hand, as an operator would: no tsconverge owner label.
  docker('network', 'create', '--label', sb.label, net);
  docker('volume', 'create', '--label', sb.label, vol);
  docker('run', '-d', '--name', ctr, '--label', sb.label, '--network', net, '-v', `${vol}:/data`, 'local/busybox:1', 'sleep', '100000');
  docker(
    'run',
    '-d',
    '--name',
    composeCtr,
    '--label',
    sb.label,
    '--label',
    'com.docker.compose.project=hm-shop',
    '--label',
    'com.docker.compose.service=web',
    'local/busybox:1',
    'sleep',
    '100000',
  );
});
afterAll(() => sb?.cleanup());

const manifest = (extra: { adopt?: boolean; ensure?: string; command?: string } = {}): string => `
resources:
  - kind: docker.network
    name: ${net}
${extra.adopt ? '    adopt: true\n' : ''}  - kind: docker.volume
    name: ${vol}
${extra.adopt ? '    adopt: true\n' : ''}  - kind: docker.container
    name: ${ctr}
    image: local/busybox:1
    command: ${extra.command ?? '[sleep, "100000"]'}
    networks: [${net}]
    mounts: [{ type: volume, source: ${vol}, target: /data }]
    labels: { tsconverge-test: ${sb.id} }
    stopTimeout: 1
${extra.adopt ? '    adopt: true\n' : ''}${extra.ensure ? `    ensure: ${extra.ensure}\n` : ''}`;

const state = (): string =>
  docker('inspect', '--format', '{{.Id}} {{.State.StartedAt}}', ctr) +
  docker('network', 'inspect', '--format', '{{.Id}}', net) +
  docker('volume', 'inspect', '--format', '{{.CreatedAt}}', vol);

describe('objects tsconverge did not create', () => {
  it('are refused by plan and apply, with who made them and the way out, and left as they are', async () => {
    const before = state();
    const m = sb.write('refuse.yaml', manifest());
    const plan = await runCli(['plan', m, '--root', sb.root, '--format', 'json']);
    expect(plan.code, plan.stderr).toBe(4);
    for (const r of plan.json.resources) {
      expect(r.status).toBe('failed');
      expect(r.error.code).toBe('NOT_OWNED');
      expect(r.error.message).toMatch(/^exists, not managed by tsconverge \(made by hand or by another tool/);
      expect(r.error.hint).toMatch(/adopt: true.*--adopt/);
    }
    const human = await runCli(['apply', m, '--root', sb.root]);
    expect(human.code).toBe(4);
    expect(human.stdout).toContain(`! docker.network[${net}]: failed`);
    expect(human.stdout).toContain('exists, not managed by tsconverge');
    expect(state()).toBe(before);
    expect(existsSync(path.join(sb.root, 'var/lib/tsconverge/adopted.json'))).toBe(false);
  });

  it('is never removed or changed: ensure: absent and a changed command are refused too', async () => {
    const before = state();
    for (const extra of [{ ensure: 'absent' }, { command: '[sleep, "5"]' }]) {
      const r = await runCli(['apply', sb.write('absent.yaml', manifest(extra)), '--root', sb.root, '--format', 'json']);
      expect(r.code).toBe(4);
      expect(r.json.resources.find((x: any) => x.kind === 'docker.container').error.code).toBe('NOT_OWNED');
    }
    expect(state()).toBe(before);
  });

  it('names the Compose project and service when the labels say', async () => {
    const m = sb.write(
      'compose.yaml',
      `
resources:
  - kind: docker.container
    name: ${composeCtr}
    image: local/busybox:1
    command: [sleep, "100000"]
`,
    );
    const r = await runCli(['plan', m, '--root', sb.root]);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain('exists, not managed by tsconverge (made by Docker Compose (project hm-shop, service web))');
    expect(r.stdout).toContain('set adopt: true on the resource (or run with --adopt)');
    // --adopt on the command line adopts it; the plan shows the adoption, apply does not recreate.
    const before = containerInfo(composeCtr);
    const plan = await runCli(['plan', m, '--root', sb.root, '--adopt']);
    expect(plan.code, plan.stdout).toBe(2);
    expect(plan.stdout).toContain(
      `= docker.container[${composeCtr}] (adopt: exists, not managed by tsconverge; made by Docker Compose (project hm-shop, service web))`,
    );
    expect(plan.stdout).toContain('1 to adopt');
    expect((await runCli(['apply', m, '--root', sb.root, '--adopt'])).code).toBe(2);
    expect(containerInfo(composeCtr)).toEqual(before);
    // Adopted: from now on it is managed, also without --adopt.
    expect((await runCli(['plan', m, '--root', sb.root])).code).toBe(0);
  });

  it('are adopted with adopt: true as their own plan action, without a recreate, then show no changes', async () => {
    const before = state();
    const m = sb.write('adopt.yaml', manifest({ adopt: true }));
    const records0 = readFileSync(path.join(sb.root, 'var/lib/tsconverge/adopted.json'), 'utf8'); // the Compose one, adopted above
    const plan = await runCli(['plan', m, '--root', sb.root, '--format', 'json']);
    expect(plan.code, plan.stderr).toBe(2);
    expect(plan.json.resources.map((r: any) => [r.id.split('[')[0], r.action, r.status, r.changes.length])).toEqual([
      ['docker.network', 'adopt', 'pending', 0],
      ['docker.volume', 'adopt', 'pending', 0],
      ['docker.container', 'adopt', 'pending', 0],
    ]);
    expect(readFileSync(path.join(sb.root, 'var/lib/tsconverge/adopted.json'), 'utf8')).toBe(records0); // plan writes nothing
    const apply = await runCli(['apply', m, '--root', sb.root, '--format', 'json']);
    expect(apply.code, apply.stderr + apply.stdout).toBe(2);
    expect(apply.json.resources.map((r: any) => [r.action, r.status, r.error?.message, r.id.split('[')[0]])).toEqual([
      ['adopt', 'changed', undefined, 'docker.network'],
      ['adopt', 'changed', undefined, 'docker.volume'],
      ['adopt', 'changed', undefined, 'docker.container'],
    ]);
    expect(state()).toBe(before);
    const records = JSON.parse(readFileSync(path.join(sb.root, 'var/lib/tsconverge/adopted.json'), 'utf8'));
    expect(records.objects[containerInfo(ctr).id].resource).toBe(`docker.container[${ctr}]`);
    const again = await runCli(['apply', m, '--root', sb.root]);
    expect(again.code, again.stdout).toBe(0);
    // Once adopted, tsconverge manages it: a changed command replaces it with an owned container.
    const changed = await runCli(['apply', sb.write('adopt2.yaml', manifest({ adopt: true, command: '[sleep, "99999"]' })), '--root', sb.root]);
    expect(changed.code, changed.stdout + changed.stderr).toBe(2);
    expect(docker('inspect', '--format', '{{index .Config.Labels "io.tsconverge.owner"}}', ctr)).toBe('tsconverge');
    expect(docker('volume', 'inspect', '--format', '{{.Name}}', vol)).toBe(vol);
  });
});
