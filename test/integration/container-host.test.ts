/**
 * docker.container's host-level settings and docker.network's IPv6 (issue 28) against
 * the real engine: apply -> again nothing (the engine's defaults and normal forms are not
 * drift); the in-place attributes change without a new container; the others replace;
 * noop reports and changes nothing; namespaces shared with another container by name.
 * Names start with i28-; everything carries the sandbox's label and is removed.
 */
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, docker, dockerSnapshot, requireDocker, runCli, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
let p: string;
const octet = randomInt(100, 250);
beforeAll(() => {
  requireDocker();
  sb = createSandbox('i28host');
  p = `i28-${sb.id}`;
});
afterAll(() => sb?.cleanup());

const DISK = '/dev/vda';
const inspect = (name: string): any => JSON.parse(docker('inspect', name))[0];

function stack(o: { pids: number; shares: number; reservation: string; readBps: string; shm: string }): string {
  return `
resources:
  - kind: docker.network
    name: ${p}-net
    labels: { tsconverge-test: ${sb.id} }
    subnet: 172.31.${octet}.0/24
    enableIPv6: true
    ipv6Subnet: fd00:28:${octet}::/64
  - kind: docker.container
    name: ${p}-app
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${sb.id} }
    stopTimeout: 1
    networks: [{ name: ${p}-net, aliases: [app], ipv4Address: 172.31.${octet}.10, ipv6Address: "fd00:28:${octet}::10" }]
    ulimits: { nofile: { soft: 1024, hard: 2048 }, nproc: 512 }
    privileged: false
    tty: true
    stdinOpen: true
    securityOpt: [no-new-privileges]
    shmSize: ${o.shm}
    devices: [/dev/zero:/dev/myzero]
    groupAdd: ["123"]
    ipc: shareable
    init: true
    extraHosts: ["gw.internal:host-gateway", "db.internal=10.9.8.7"]
    deviceReadBps: [{ path: ${DISK}, rate: ${o.readBps} }]
    deviceWriteIops: [{ path: ${DISK}, rate: 100 }]
    pidsLimit: ${o.pids}
    memory: 64m
    memorySwap: 128m
    memoryReservation: ${o.reservation}
    cpuShares: ${o.shares}
    cpusetCpus: "0"
  - kind: docker.container
    name: ${p}-side
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${sb.id} }
    stopTimeout: 1
    networkMode: container:${p}-app
    pid: container:${p}-app
    ipc: container:${p}-app
  - kind: docker.container
    name: ${p}-hostnet
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${sb.id} }
    stopTimeout: 1
    networkMode: host
`;
}

describe('docker.container host settings on the real engine', () => {
  it('apply -> again nothing; in place -> same container; replace -> new one; noop changes nothing', async () => {
    const m = sb.manifest(stack({ pids: 100, shares: 512, reservation: '32m', readBps: '1m', shm: '32m' }));
    const first = await runCli(['apply', m, '--format', 'json']);
    expect(first.code, first.stdout + first.stderr).toBe(2);
    expect(first.json.summary).toMatchObject({ changed: 4, failed: 0 });

    const app = inspect(`${p}-app`);
    const hc = app.HostConfig;
    expect(hc.Ulimits).toEqual(
      expect.arrayContaining([
        { Name: 'nofile', Soft: 1024, Hard: 2048 },
        { Name: 'nproc', Soft: 512, Hard: 512 },
      ]),
    );
    expect([app.Config.Tty, app.Config.OpenStdin, hc.Privileged, hc.Init]).toEqual([true, true, false, true]);
    expect([hc.SecurityOpt, hc.ShmSize, hc.GroupAdd, hc.IpcMode, hc.PidsLimit, hc.MemorySwap, hc.MemoryReservation, hc.CpuShares, hc.CpusetCpus]).toEqual([
      ['no-new-privileges'],
      32 * 1024 ** 2,
      ['123'],
      'shareable',
      100,
      128 * 1024 ** 2,
      32 * 1024 ** 2,
      512,
      '0',
    ]);
    expect(hc.Devices).toEqual([{ PathOnHost: '/dev/zero', PathInContainer: '/dev/myzero', CgroupPermissions: 'rwm' }]);
    expect(hc.BlkioDeviceReadBps).toEqual([{ Path: DISK, Rate: 1024 ** 2 }]);
    expect(hc.BlkioDeviceWriteIOps).toEqual([{ Path: DISK, Rate: 100 }]);
    expect(app.NetworkSettings.Networks[`${p}-net`].IPAddress).toBe(`172.31.${octet}.10`);
    expect(app.NetworkSettings.Networks[`${p}-net`].GlobalIPv6Address).toBe(`fd00:28:${octet}::10`);
    expect(docker('exec', `${p}-app`, 'cat', '/etc/hosts')).toMatch(/\n\d+\.\d+\.\d+\.\d+\tgw\.internal\n/); // host-gateway resolved by the engine
    const side = inspect(`${p}-side`);
    expect([side.HostConfig.NetworkMode, side.HostConfig.PidMode]).toEqual([`container:${app.Id}`, `container:${app.Id}`]);
    expect(docker('exec', `${p}-side`, 'cat', '/proc/1/cmdline')).toContain('docker-init'); // its PID 1 is the app's init: one pid namespace
    expect(inspect(`${p}-hostnet`).HostConfig.NetworkMode).toBe('host');
    expect(JSON.parse(docker('network', 'inspect', `${p}-net`))[0].EnableIPv6).toBe(true);

    const again = await runCli(['plan', m, '--format', 'json']);
    expect(
      again.code,
      JSON.stringify(
        again.json?.resources?.filter((r: any) => r.action !== 'none'),
        null,
        1,
      ),
    ).toBe(0);

    // In place: pids, CPU shares and the memory reservation change on the running container.
    sb.manifest(stack({ pids: 200, shares: 256, reservation: '16m', readBps: '1m', shm: '32m' }));
    const before = dockerSnapshot(`tsconverge-test=${sb.id}`);
    const noop = await runCli(['apply', m, '--noop', '--format', 'json']);
    expect(noop.code).toBe(2);
    const planned = noop.json.resources.find((r: any) => r.id === `docker.container[${p}-app]`);
    expect(planned.action).toBe('update');
    expect(planned.changes.map((c: any) => c.attribute).sort()).toEqual(['cpuShares', 'memoryReservation', 'pidsLimit']);
    expect(dockerSnapshot(`tsconverge-test=${sb.id}`)).toBe(before);
    expect(inspect(`${p}-app`).HostConfig.PidsLimit).toBe(100);
    const upd = await runCli(['apply', m, '--format', 'json']);
    expect(upd.code, upd.stdout + upd.stderr).toBe(2);
    const after = inspect(`${p}-app`);
    expect(after.Id).toBe(app.Id);
    expect([after.HostConfig.PidsLimit, after.HostConfig.CpuShares, after.HostConfig.MemoryReservation]).toEqual([200, 256, 16 * 1024 ** 2]);
    expect((await runCli(['plan', m])).code).toBe(0);

    // Replace: /dev/shm's size and the device limits cannot change on a running container; the side container follows the new id.
    sb.manifest(stack({ pids: 200, shares: 256, reservation: '16m', readBps: '2m', shm: '48m' }));
    const plan = await runCli(['plan', m]);
    expect(plan.stdout).toContain(`-/+ docker.container[${p}-app] (replace: forced by deviceReadBps, shmSize)`);
    const rep = await runCli(['apply', m, '--format', 'json']);
    expect(rep.code, rep.stdout + rep.stderr).toBe(2);
    const fresh = inspect(`${p}-app`);
    expect(fresh.Id).not.toBe(app.Id);
    expect(fresh.HostConfig.ShmSize).toBe(48 * 1024 ** 2);
    expect(fresh.HostConfig.BlkioDeviceReadBps).toEqual([{ Path: DISK, Rate: 2 * 1024 ** 2 }]);
    expect(fresh.NetworkSettings.Networks[`${p}-net`].IPAddress).toBe(`172.31.${octet}.10`);
    expect(inspect(`${p}-side`).HostConfig.NetworkMode).toBe(`container:${fresh.Id}`);
    const clean = await runCli(['plan', m]);
    expect(clean.code, clean.stdout).toBe(0);
  }, 180_000);

  it('a block I/O weight the kernel discards fails the apply and says so; nothing is left behind', async () => {
    const m = sb.write(
      'weight.yaml',
      `
resources:
  - kind: docker.container
    name: ${p}-weight
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${sb.id} }
    stopTimeout: 1
    blkioWeight: 300
`,
    );
    // Does this kernel keep a weight? Asked of the engine directly, apart from tsconverge.
    const probe = spawnSync('docker', ['run', '--rm', '--label', `tsconverge-test=${sb.id}`, '--blkio-weight', '300', 'local/busybox:1', 'true'], {
      encoding: 'utf8',
    });
    const supported = !/Weight discarded/.test(probe.stderr);
    const r = await runCli(['apply', m, '--format', 'json']);
    if (supported) {
      expect(r.code, r.stdout + r.stderr).toBe(2);
      // a kernel with a weighting scheduler: it converges and stays converged
      expect(inspect(`${p}-weight`).HostConfig.BlkioWeight).toBe(300);
      expect((await runCli(['plan', m])).code).toBe(0);
    } else {
      expect(r.code, r.stdout + r.stderr).toBe(4);
      expect(r.stdout + r.stderr).toContain('the engine discarded blkioWeight');
      expect(docker('ps', '-aq', '--filter', `name=${p}-weight`)).toBe('');
    }
  }, 60_000);
});
