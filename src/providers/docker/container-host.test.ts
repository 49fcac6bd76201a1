import { describe, expect, it } from 'vitest';
import type Docker from 'dockerode';
import { deviceOf, extraHostKey, hostActual, hostDesired } from './container-host.js';

describe('container host settings: normal forms', () => {
  it("devices get the engine's fill-ins (container path, rwm)", () => {
    expect(deviceOf('/dev/fuse')).toEqual({ PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' });
    expect(deviceOf('/dev/fuse:r')).toEqual({ PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'r' });
    expect(deviceOf('/dev/a:/dev/b:rw')).toEqual({ PathOnHost: '/dev/a', PathInContainer: '/dev/b', CgroupPermissions: 'rw' });
  });
  it('extra hosts: = and : are one form; IPv6 keeps its colons', () => {
    expect(extraHostKey('db=10.0.0.1')).toBe('db:10.0.0.1');
    expect(extraHostKey('gw:host-gateway')).toBe('gw:host-gateway');
    expect(extraHostKey('v6:fd00::1')).toBe('v6:fd00::1');
    expect(extraHostKey('v6=fd00::1')).toBe('v6:fd00::1');
  });
  it('what the engine fills in when undeclared is not drift; declared values compare in one form', () => {
    const a = {
      image: 'x',
      cpuShares: 1024,
      pidsLimit: -1,
      memorySwap: -1,
      shmSize: '64m',
      ulimits: { nofile: 1024 },
      devices: ['/dev/zero'],
      extraHosts: ['a=1.2.3.4'],
      pid: 'container:other',
    } as const;
    const info = {
      Config: {},
      HostConfig: {
        CpuShares: 0,
        PidsLimit: 0,
        MemorySwap: -1,
        ShmSize: 64 * 1024 * 1024,
        Ulimits: [
          { Name: 'nofile', Soft: 1024, Hard: 1024 },
          { Name: 'core', Soft: 0, Hard: 0 },
        ],
        Devices: [{ PathOnHost: '/dev/zero', PathInContainer: '/dev/zero', CgroupPermissions: 'rwm' }],
        ExtraHosts: ['a:1.2.3.4'],
        PidMode: 'container:0123abcd',
      },
    } as unknown as Docker.ContainerInspectInfo;
    const d: Record<string, any> = {};
    const o: Record<string, any> = {};
    hostDesired(a as never, d);
    hostActual(a as never, info, o, { '0123abcd': 'other' });
    expect(o).toEqual(d);
    expect(Object.keys(d).sort()).toEqual(['cpuShares', 'devices', 'extraHosts', 'memorySwap', 'pid', 'pidsLimit', 'shmSize', 'ulimits']);
  });
});
