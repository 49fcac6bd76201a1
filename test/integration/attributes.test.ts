/**
 * Every container attribute operators use, declared at once against the real engine:
 * the second apply must change nothing (defaults and reordering are not drift), each
 * attribute must show in `docker inspect`, and a changed value must be reported.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, docker, requireDocker, runCli, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
beforeAll(() => {
  requireDocker();
  sb = createSandbox('attr');
});
afterAll(() => sb?.cleanup());

const inspect = (fmt: string, name: string): string => docker('inspect', '--format', fmt, name);

describe('docker.container attributes', () => {
  it('all attributes converge once and are stable', async () => {
    const name = `${sb.prefix}-full`;
    const yaml = (cpus: string) => `
resources:
  - kind: docker.network
    name: ${sb.prefix}-a
    labels: { tsconverge-test: ${sb.id} }
  - kind: docker.network
    name: ${sb.prefix}-b
    labels: { tsconverge-test: ${sb.id} }
  - kind: file
    name: conf
    path: /etc/full/app.conf
    content: "x=1\\n"
  - kind: docker.container
    name: ${name}
    image: local/busybox:1
    entrypoint: [/bin/sh, -c]
    command: ["sleep 100000"]
    environment: [Z_LAST=1, A_FIRST=2, PATH=/bin]
    labels: { tsconverge-test: ${sb.id}, b: "2", a: "1" }
    ports: ["127.0.0.1::80", "127.0.0.1::81/udp"]
    mounts:
      - { type: tmpfs, target: /scratch, tmpfsSize: 16m }
      - { type: bind, source: /etc/full/app.conf, target: /etc/app.conf, readOnly: true }
    networks:
      - { name: ${sb.prefix}-b, aliases: [bee] }
      - ${sb.prefix}-a
    restart: on-failure:3
    memory: 96m
    cpus: ${cpus}
    logging: { driver: json-file, options: { max-size: 1m, max-file: "2" } }
    healthcheck: { test: "true", interval: 1m, timeout: 5s, retries: 2, startPeriod: 500ms }
    hostname: fullhost
    dns: [10.0.0.53, 10.0.0.54]
    sysctls: { net.core.somaxconn: "512" }
    user: "65534"
    workingDir: /tmp
    capAdd: [net_admin]
    capDrop: [MKNOD, CAP_NET_RAW]
    readOnly: true
    stopTimeout: 1
`;
    const m = sb.manifest(yaml('0.5'));
    const first = await runCli(['apply', m, '--root', sb.root]);
    expect(first.code, first.stdout + first.stderr).toBe(2);
    const second = await runCli(['apply', m, '--root', sb.root, '--format', 'json']);
    expect(
      second.code,
      JSON.stringify(
        second.json?.resources?.filter((r: any) => r.status !== 'unchanged'),
        null,
        1,
      ),
    ).toBe(0);

    expect(inspect('{{.State.Running}} {{.Config.Hostname}} {{.Config.User}} {{.Config.WorkingDir}} {{.HostConfig.ReadonlyRootfs}}', name)).toBe(
      'true fullhost 65534 /tmp true',
    );
    expect(
      inspect('{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}', name),
    ).toBe(`${96 * 1024 * 1024} 500000000 on-failure:3`);
    expect(inspect('{{json .HostConfig.Dns}} {{json .HostConfig.Sysctls}} {{.HostConfig.LogConfig.Type}} {{json .HostConfig.LogConfig.Config}}', name)).toBe(
      '["10.0.0.53","10.0.0.54"] {"net.core.somaxconn":"512"} json-file {"max-file":"2","max-size":"1m"}',
    );
    expect(inspect('{{json .Config.Healthcheck}}', name)).toBe(
      '{"Test":["CMD-SHELL","true"],"Interval":60000000000,"Timeout":5000000000,"StartPeriod":500000000,"Retries":2}',
    );
    expect(inspect('{{json (index .NetworkSettings.Networks "' + sb.prefix + '-b").Aliases}}', name)).toContain('"bee"');
    expect(inspect('{{len .NetworkSettings.Networks}}', name)).toBe('2');
    expect(docker('exec', name, 'cat', '/etc/app.conf')).toBe('x=1');
    expect(docker('exec', name, 'sh', '-c', 'echo $A_FIRST$Z_LAST')).toBe('21');

    // A value changed by a manifest edit is reported, and cpus updates in place.
    sb.manifest(yaml('0.25'));
    const plan = await runCli(['plan', m, '--root', sb.root, '--format', 'json']);
    const res = plan.json.resources.find((r: any) => r.id === `docker.container[${name}]`);
    expect(res).toMatchObject({ action: 'update', changes: [{ attribute: 'cpus', from: 0.5, to: 0.25 }] });
    const id = inspect('{{.Id}}', name);
    expect((await runCli(['apply', m, '--root', sb.root])).code).toBe(2);
    expect(inspect('{{.Id}} {{.HostConfig.NanoCpus}}', name)).toBe(`${id} 250000000`);
    expect((await runCli(['apply', m, '--root', sb.root])).code).toBe(0);
  });

  it('an attribute not declared is not compared; a removed environment variable is drift', async () => {
    const name = `${sb.prefix}-min`;
    const m = sb.write(
      'min/manifest.yaml',
      `resources:\n  - kind: docker.container\n    name: ${name}\n    image: local/busybox:1\n    command: [sleep, "100000"]\n    environment: { KEEP: "1", DROP: "2" }\n    labels: { tsconverge-test: ${sb.id} }\n    stopTimeout: 1\n`,
    );
    expect((await runCli(['apply', m])).code).toBe(2);
    expect((await runCli(['apply', m])).code).toBe(0);
    sb.write(
      'min/manifest.yaml',
      `resources:\n  - kind: docker.container\n    name: ${name}\n    image: local/busybox:1\n    command: [sleep, "100000"]\n    environment: { KEEP: "1" }\n    labels: { tsconverge-test: ${sb.id} }\n    stopTimeout: 1\n`,
    );
    const plan = await runCli(['plan', m]);
    expect(plan.stdout).toContain('environment.DROP: "2" -> (none)');
    expect((await runCli(['apply', m])).code).toBe(2);
    expect(docker('exec', name, 'sh', '-c', 'echo ${DROP:-gone}')).toBe('gone');
  });
});
