/**
 * docker.network and docker.volume timelines, anonymous volume data surviving a
 * container replace, and JSON log lines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerInfo, createSandbox, docker, dockerSnapshot, requireDocker, runCli, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
beforeAll(() => {
  requireDocker();
  sb = createSandbox('netvol');
});
afterAll(() => sb?.cleanup());

describe('docker.network and docker.volume timeline', () => {
  it('apply -> changed; again -> nothing; removed by hand -> noop reports, touches nothing; apply -> repaired', async () => {
    const octet = 100 + Math.floor(Math.random() * 150); // a leftover from an interrupted run must not collide
    const m = sb.manifest(`
resources:
  - kind: docker.network
    name: ${sb.prefix}-n
    subnet: 172.31.${octet}.0/24
    gateway: 172.31.${octet}.1
    internal: true
    labels: { tsconverge-test: ${sb.id} }
  - kind: docker.volume
    name: ${sb.prefix}-v
    labels: { tsconverge-test: ${sb.id} }
`);
    const first = await runCli(['apply', m, '--format', 'json', '--log-format', 'json']);
    expect(first.code, first.stderr).toBe(2);
    expect(first.json.summary.changed).toBe(2);
    // Logs are JSON lines naming resources as kind[name].
    const logs = first.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(logs.some((l) => l.level === 'info' && String(l.message).startsWith(`docker.network[${sb.prefix}-n]`))).toBe(true);
    expect(docker('network', 'inspect', '--format', '{{(index .IPAM.Config 0).Subnet}} {{.Internal}}', `${sb.prefix}-n`)).toBe(`172.31.${octet}.0/24 true`);
    expect((await runCli(['apply', m])).code).toBe(0);

    docker('network', 'rm', `${sb.prefix}-n`);
    docker('volume', 'rm', `${sb.prefix}-v`);
    const before = dockerSnapshot(`tsconverge-test=${sb.id}`);
    const noop = await runCli(['apply', m, '--noop', '--format', 'json']);
    expect(noop.code).toBe(2);
    expect(noop.json.resources.map((r: any) => [r.action, r.status])).toEqual([
      ['create', 'pending'],
      ['create', 'pending'],
    ]);
    expect(dockerSnapshot(`tsconverge-test=${sb.id}`)).toBe(before);
    expect((await runCli(['apply', m])).code).toBe(2);
    expect((await runCli(['apply', m])).code).toBe(0);
  });
});

describe('anonymous volumes', () => {
  it("survive a replace: the new container mounts the old one's anonymous volume", async () => {
    const yaml = (v: string): string => `
resources:
  - kind: docker.container
    name: ${sb.prefix}-anon
    image: local/busybox-vol:1
    command: [sleep, "100000"]
    environment: { V: "${v}" }
    labels: { tsconverge-test: ${sb.id} }
    stopTimeout: 1
`;
    const m = sb.manifest(yaml('1'));
    expect((await runCli(['apply', m])).code).toBe(2);
    docker('exec', `${sb.prefix}-anon`, 'sh', '-c', 'echo kept > /anon/data');
    const vol = docker('inspect', '--format', '{{range .Mounts}}{{.Name}}{{end}}', `${sb.prefix}-anon`);
    const old = containerInfo(`${sb.prefix}-anon`);
    sb.manifest(yaml('2'));
    expect((await runCli(['apply', m])).code).toBe(2);
    expect(containerInfo(`${sb.prefix}-anon`).id).not.toBe(old.id);
    expect(docker('exec', `${sb.prefix}-anon`, 'cat', '/anon/data')).toBe('kept');
    expect(docker('inspect', '--format', '{{range .Mounts}}{{.Name}}{{end}}', `${sb.prefix}-anon`)).toBe(vol);
    expect((await runCli(['apply', m])).code).toBe(0);
    // The anonymous volume is not removed with the container; remove it here.
    docker('rm', '-f', `${sb.prefix}-anon`);
    docker('volume', 'rm', vol);
  });
});
