/**
 * docker.container, docker.network and docker.volume against the real engine:
 * timelines, safe replace, data kept, failures leave the old state running.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { containerInfo, createSandbox, docker, dockerSnapshot, requireDocker, runCli, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
beforeAll(() => {
  requireDocker();
  sb = createSandbox('ctr');
});
afterAll(() => sb?.cleanup());

const stack = (p: string, id: string, env: string, extra = ''): string => `
resources:
  - kind: docker.network
    name: ${p}-net
    labels: { tsconverge-test: ${id} }
  - kind: docker.volume
    name: ${p}-vol
    labels: { tsconverge-test: ${id} }
  - kind: docker.container
    name: ${p}-app
    image: local/busybox:1
    command: [sleep, "100000"]
    environment: { MODE: ${env}, OTHER: "x" }
    labels: { tsconverge-test: ${id}, role: app }
    restart: unless-stopped
    memory: 64m
    networks: [{ name: ${p}-net, aliases: [app] }]
    mounts: [{ type: volume, source: ${p}-vol, target: /data }]
    stopTimeout: 1
${extra}`;

describe('docker.container timeline', () => {
  it('apply -> changed; again -> nothing; drift -> noop reports and touches nothing; apply -> repaired', async () => {
    const m = sb.manifest(stack(sb.prefix, sb.id, 'one'));
    const first = await runCli(['apply', m, '--format', 'json']);
    expect(first.code, first.stderr).toBe(2);
    expect(first.json.summary).toMatchObject({ changed: 3, failed: 0 });
    expect(containerInfo(`${sb.prefix}-app`).status).toBe('running');

    const again = await runCli(['apply', m, '--format', 'json']);
    expect(again.code, again.stdout).toBe(0);
    expect(again.json.summary.unchanged).toBe(3);

    // Drift by hand: restart policy and memory changed, container stopped.
    docker('update', '--restart', 'no', `${sb.prefix}-app`);
    docker('stop', '-t', '1', `${sb.prefix}-app`);
    const before = dockerSnapshot(`tsconverge-test=${sb.id}`);
    const noop = await runCli(['apply', m, '--noop', '--format', 'json']);
    expect(noop.code).toBe(2);
    const app = noop.json.resources.find((r: any) => r.id === `docker.container[${sb.prefix}-app]`);
    expect(app).toMatchObject({ action: 'update', status: 'pending' });
    expect(app.changes.map((c: any) => c.attribute).sort()).toEqual(['ensure', 'restart']);
    expect(dockerSnapshot(`tsconverge-test=${sb.id}`)).toBe(before);

    const plan = await runCli(['plan', m]);
    expect(plan.stdout).toContain(`~ docker.container[${sb.prefix}-app]`);
    expect(plan.stdout).toContain('restart: "no" -> "unless-stopped"');

    const repair = await runCli(['apply', m]);
    expect(repair.code).toBe(2);
    const info = containerInfo(`${sb.prefix}-app`);
    expect(info.status).toBe('running');
    expect(docker('inspect', '--format', '{{.HostConfig.RestartPolicy.Name}}', `${sb.prefix}-app`)).toBe('unless-stopped');
    expect((await runCli(['apply', m])).code).toBe(0);
  });

  it('replaces safely: new environment recreates only that container, volume data survives', async () => {
    const m = sb.manifest(stack(sb.prefix, sb.id, 'one'));
    expect([0, 2]).toContain((await runCli(['apply', m])).code);
    docker('exec', `${sb.prefix}-app`, 'sh', '-c', 'echo precious > /data/keep');
    const old = containerInfo(`${sb.prefix}-app`);
    sb.manifest(stack(sb.prefix, sb.id, 'two'));
    const plan = await runCli(['plan', m]);
    expect(plan.stdout).toContain(`-/+ docker.container[${sb.prefix}-app] (replace: forced by environment)`);
    expect(plan.stdout).toContain('environment.MODE: "one" -> "two"');
    const res = await runCli(['apply', m, '--format', 'json']);
    expect(res.code, res.stderr).toBe(2);
    expect(res.json.summary).toMatchObject({ changed: 1, unchanged: 2 });
    const now = containerInfo(`${sb.prefix}-app`);
    expect(now.id).not.toBe(old.id);
    expect(now.status).toBe('running');
    expect(docker('exec', `${sb.prefix}-app`, 'cat', '/data/keep')).toBe('precious');
    expect(docker('exec', `${sb.prefix}-app`, 'sh', '-c', 'echo $MODE')).toBe('two');
    expect(docker('ps', '-a', '--filter', `name=${sb.prefix}-app`, '--format', '{{.Names}}')).toBe(`${sb.prefix}-app`);
  });

  it('a failed pull leaves the running container untouched, and its dependents converge no further', async () => {
    const m = sb.manifest(stack(sb.prefix, sb.id, 'two'));
    expect([0, 2]).toContain((await runCli(['apply', m])).code);
    const old = containerInfo(`${sb.prefix}-app`);
    sb.manifest(stack(sb.prefix, sb.id, 'two').replace('image: local/busybox:1', 'image: 127.0.0.1:5000/busybox:does-not-exist'));
    const res = await runCli(['apply', m, '--format', 'json']);
    expect(res.code).toBe(4);
    const app = res.json.resources.find((r: any) => r.id === `docker.container[${sb.prefix}-app]`);
    expect(app.error.code).toBe('IMAGE_NOT_FOUND');
    expect(containerInfo(`${sb.prefix}-app`)).toEqual(old);
  });

  it('a port already in use fails the start, leaves nothing new behind and keeps the old container', async () => {
    const m = sb.manifest(stack(sb.prefix, sb.id, 'two'));
    expect([0, 2]).toContain((await runCli(['apply', m])).code);
    const old = containerInfo(`${sb.prefix}-app`);
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      sb.manifest(stack(sb.prefix, sb.id, 'two').replace('    restart: unless-stopped', `    restart: unless-stopped\n    ports: ["127.0.0.1:${port}:80"]`));
      const res = await runCli(['apply', m, '--format', 'json']);
      expect(res.code).toBe(4);
      const app = res.json.resources.find((r: any) => r.id === `docker.container[${sb.prefix}-app]`);
      expect(app.error.code).toBe('CONTAINER_START_FAILED');
      expect(app.error.hint).toMatch(/port/);
      expect(containerInfo(`${sb.prefix}-app`)).toMatchObject({ id: old.id, status: 'running' });
      expect(docker('ps', '-a', '--filter', `name=${sb.prefix}-app`, '--format', '{{.Names}}')).toBe(`${sb.prefix}-app`);
    } finally {
      server.close();
    }
  });

  it('network and volume: a changed option is planned as a replace; a volume replace is refused without allowReplace', async () => {
    const m = sb.manifest(stack(sb.prefix, sb.id, 'two'));
    expect([0, 2]).toContain((await runCli(['apply', m])).code);
    const changed = stack(sb.prefix, sb.id, 'two')
      .replace(
        `    name: ${sb.prefix}-net\n    labels: { tsconverge-test: ${sb.id} }`,
        `    name: ${sb.prefix}-net\n    labels: { tsconverge-test: ${sb.id}, tier: front }`,
      )
      .replace(
        `    name: ${sb.prefix}-vol\n    labels: { tsconverge-test: ${sb.id} }`,
        `    name: ${sb.prefix}-vol\n    labels: { tsconverge-test: ${sb.id}, tier: data }`,
      );
    sb.manifest(changed);
    const plan = await runCli(['plan', m]);
    expect(plan.code).toBe(6); // what apply exits with: the plan predicts the refusal (issue 22)
    expect(plan.stdout).toContain(`-/+ docker.network[${sb.prefix}-net] (replace: forced by labels)`);
    expect(plan.stdout).toContain(`! docker.volume[${sb.prefix}-vol]: refused (replace: forced by labels)`);
    const res = await runCli(['apply', m, '--format', 'json']);
    expect(res.code).toBe(6);
    const byId = Object.fromEntries(res.json.resources.map((r: any) => [r.id, r]));
    expect(byId[`docker.volume[${sb.prefix}-vol]`].error.code).toBe('VOLUME_REPLACE_REFUSED');
    expect(byId[`docker.network[${sb.prefix}-net]`].status).toBe('changed');
    expect(byId[`docker.container[${sb.prefix}-app]`].status).toBe('skipped');
    // The network was recreated and the running container reconnected with its alias.
    expect(docker('network', 'inspect', '--format', '{{index .Labels "tier"}}', `${sb.prefix}-net`)).toBe('front');
    expect(docker('inspect', '--format', `{{json (index .NetworkSettings.Networks "${sb.prefix}-net").Aliases}}`, `${sb.prefix}-app`)).toContain('"app"');
    expect(docker('exec', `${sb.prefix}-app`, 'cat', '/data/keep')).toBe('precious');
  });
});
