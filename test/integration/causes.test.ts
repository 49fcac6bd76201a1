/**
 * Causes follow notifications (issue 22), through the real agent (`agent --onetime`),
 * engine, files and container: a template change that restarts the container mounting
 * the rendered file is intentional for both (the restart takes the cause of what
 * notified it, an automatic notification included); the same file changed by hand is
 * corrective for both; a create that fails carries no cause and is counted nowhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createSandbox, requireDocker, runCli, type Sandbox } from '../support/harness.js';
import { reports } from '../support/agent.js';

let sb: Sandbox;
beforeAll(() => {
  requireDocker();
  sb = createSandbox('i22-cause');
});
afterAll(() => sb?.cleanup());

const manifest = (p: string, id: string, greeting: string, extra = ''): string => `
resources:
  - kind: docker.network
    name: ${p}-net
    labels: { tsconverge-test: ${id} }
  - kind: file
    name: app-conf
    path: /srv/${p}/app.conf
    template: app.conf.hbs
    parameters: { greeting: ${greeting} }
  - kind: docker.container
    name: ${p}-app
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${id} }
    networks: [${p}-net]
    mounts: [{ type: bind, source: /srv/${p}/app.conf, target: /etc/app.conf, readOnly: true }]
    stopTimeout: 1
${extra}`;

describe('the cause of a change', () => {
  it("a notified restart takes its notifier's cause (template change: intentional, drift: corrective); a failed create has none", async () => {
    const stateDir = path.join(path.dirname(sb.root), 'state');
    sb.write('app.conf.hbs', 'greeting={{params.greeting}}\n');
    const m = sb.manifest(manifest(sb.prefix, sb.id, 'hello'));
    const onetime = async (): Promise<any> => {
      const r = await runCli(['agent', '--onetime', '--manifests', m, '--root', sb.root, '--state-dir', stateDir]);
      expect([0, 2, 4, 6], r.stderr).toContain(r.code);
      const all = reports(stateDir);
      return all[all.length - 1];
    };
    const byId = (rep: any): Record<string, any> => Object.fromEntries(rep.resources.map((r: any) => [r.id, r]));
    const file = 'file[app-conf]';
    const app = `docker.container[${sb.prefix}-app]`;

    expect((await onetime()).summary.changed).toBe(3);

    // A rollout: the template's parameter changed; the container restarts because it mounts the file.
    sb.manifest(manifest(sb.prefix, sb.id, 'changed'));
    const rollout = await onetime();
    expect(byId(rollout)[file]).toMatchObject({ status: 'changed', cause: 'intentional' });
    expect(byId(rollout)[app]).toMatchObject({ action: 'none', status: 'changed', refresh: true, notifiedBy: [file], cause: 'intentional' });
    expect(rollout.changes).toEqual({ intentional: 2, corrective: 0 });

    // Drift: the same file changed by hand; repaired, and the restart is corrective too.
    writeFileSync(path.join(sb.root, 'srv', sb.prefix, 'app.conf'), 'greeting=by hand\n');
    const repair = await onetime();
    expect(byId(repair)[file]).toMatchObject({ status: 'changed', cause: 'corrective' });
    expect(byId(repair)[app]).toMatchObject({ refresh: true, cause: 'corrective' });
    expect(repair.changes).toEqual({ intentional: 0, corrective: 2 });

    // A create that fails is neither intentional nor corrective.
    sb.manifest(
      manifest(
        sb.prefix,
        sb.id,
        'changed',
        `  - kind: docker.container
    name: ${sb.prefix}-broken
    image: local/i22-no-such-image:1
    labels: { tsconverge-test: ${sb.id} }
`,
      ),
    );
    const failed = await onetime();
    const broken = byId(failed)[`docker.container[${sb.prefix}-broken]`];
    expect(broken.status).toBe('failed');
    expect(broken.cause).toBeUndefined();
    expect(failed.changes).toEqual({ intentional: 0, corrective: 0 });
  }, 180_000);
});
