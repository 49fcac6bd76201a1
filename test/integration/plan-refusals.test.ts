/**
 * Plans predict refusals (issue 22), against the real engine: a volume used by two
 * containers gets a new label, which needs it recreated and would lose its data. The
 * plan says what apply then does: the volume refused (with why), both containers
 * skipped because of it, counted as such, and the same exit code as the apply (4). Both
 * use one rule (Provider.refuse via engine/hold.ts judgeChange). Nothing is changed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerInfo, createSandbox, docker, requireDocker, runCli, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
beforeAll(() => {
  requireDocker();
  sb = createSandbox('i22-refuse');
});
afterAll(() => sb?.cleanup());

const stack = (p: string, id: string, volumeLabels: string): string => `
resources:
  - kind: docker.network
    name: ${p}-net
    labels: { tsconverge-test: ${id} }
  - kind: docker.volume
    name: ${p}-vol
    labels: { tsconverge-test: ${id}${volumeLabels} }
${['a', 'b']
  .map(
    (c) => `  - kind: docker.container
    name: ${p}-${c}
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${id} }
    networks: [${p}-net]
    mounts: [{ type: volume, source: ${p}-vol, target: /data }]
    stopTimeout: 1
`,
  )
  .join('')}`;

describe('a volume replace that apply refuses', () => {
  it('is shown refused in the plan, with why and the dependents it skips, and apply does just that', async () => {
    const m = sb.manifest(stack(sb.prefix, sb.id, ''));
    const first = await runCli(['apply', m]);
    expect(first.code, first.stdout + first.stderr).toBe(2);
    docker('exec', `${sb.prefix}-a`, 'sh', '-c', 'echo precious > /data/keep');
    const before = { a: containerInfo(`${sb.prefix}-a`).id, b: containerInfo(`${sb.prefix}-b`).id };

    sb.manifest(stack(sb.prefix, sb.id, ', tier: data'));
    const plan = await runCli(['plan', m]);
    const vol = `docker.volume[${sb.prefix}-vol]`;
    expect(plan.code, plan.stdout + plan.stderr).toBe(4); // what apply will exit with
    expect(plan.stdout).toContain(`  ! ${vol}: refused (replace: forced by labels)`);
    expect(plan.stdout).toContain('refused: changing labels needs the volume recreated, which would lose its data');
    expect(plan.stdout).not.toContain(`-/+ ${vol}`);
    for (const c of ['a', 'b']) expect(plan.stdout).toContain(`  ! docker.container[${sb.prefix}-${c}]: skipped\n      skipped because ${vol} is refused`);
    expect(plan.stdout).toMatch(/Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, 0 to restart; 1 unchanged, 0 failed, 1 refused, 2 skipped/);

    const json = await runCli(['plan', m, '--format', 'json']);
    const byId = Object.fromEntries(json.json.resources.map((r: any) => [r.id, r]));
    expect(byId[vol]).toMatchObject({ action: 'replace', status: 'failed', refused: true, error: { code: 'VOLUME_REPLACE_REFUSED' } });
    expect(json.json.summary).toMatchObject({ failed: 1, skipped: 2, pending: 0 });

    const apply = await runCli(['apply', m, '--format', 'json']);
    expect(apply.code).toBe(json.code);
    const applied = Object.fromEntries(apply.json.resources.map((r: any) => [r.id, r]));
    for (const id of Object.keys(byId))
      expect({ id, status: applied[id].status, error: applied[id].error?.code }).toEqual({ id, status: byId[id].status, error: byId[id].error?.code });
    expect(docker('exec', `${sb.prefix}-a`, 'cat', '/data/keep')).toBe('precious');
    expect({ a: containerInfo(`${sb.prefix}-a`).id, b: containerInfo(`${sb.prefix}-b`).id }).toEqual(before);
    expect(docker('volume', 'inspect', '--format', '{{json .Labels}}', `${sb.prefix}-vol`)).not.toContain('tier');
  }, 120_000);
});
