import { describe, expect, it } from 'vitest';
import type { CatalogueResource } from '../core/types.js';
import { createSchemaRegistry } from '../spec/schemas.js';
import { checkConflicts } from './conflicts.js';

const registry = createSchemaRegistry();
const res = (kind: string, name: string, attrs: Record<string, unknown> = {}): CatalogueResource => ({
  kind,
  name,
  id: `${kind}[${name}]`,
  attrs,
  sensitive: [],
  relations: { require: [], before: [], notify: [], subscribe: [] },
  locate: (pointer) => ({ file: `/m/${kind}-${name}.yaml`, line: 1, column: 1, pointer }),
});

describe('checkConflicts: what each kind claims comes from x-claim in its schema', () => {
  it.each([
    ['a file path and a file named by that path', [res('file', 'motd', { path: '/etc/motd' }), res('file', '/etc/motd')], 'path /etc/motd', '/name'],
    ['one path spelled two ways', [res('file', 'a', { path: '/srv/app/' }), res('file', 'b', { path: '/srv//app' })], 'path /srv/app', '/path'],
    [
      'docker.daemon on its default daemon.json and a file',
      [res('docker.daemon', 'engine'), res('file', '/etc/docker/daemon.json')],
      'path /etc/docker/daemon.json',
      '/name',
    ],
    [
      'docker.daemon at a configPath and a file',
      [res('file', '/srv/d.json'), res('docker.daemon', 'engine', { configPath: '/srv/d.json' })],
      'path /srv/d.json',
      '/configPath',
    ],
    [
      'ntp and logging.rotate at one configPath',
      [res('ntp', 'a', { configPath: '/etc/x.conf' }), res('logging.rotate', 'b', { configPath: '/etc/x.conf' })],
      'path /etc/x.conf',
      '/configPath',
    ],
    [
      'logging.forward and a file',
      [res('logging.forward', 'a', { configPath: '/etc/rsyslog.d/x.conf' }), res('file', '/etc/rsyslog.d/x.conf')],
      'path /etc/rsyslog.d/x.conf',
      '/name',
    ],
    [
      'dns with nameservers and a file on resolv.conf',
      [res('dns', 'a', { nameservers: ['10.0.0.1'] }), res('file', '/etc/resolv.conf')],
      'path /etc/resolv.conf',
      '/name',
    ],
    ['a container name with and without a slash', [res('docker.container', 'web'), res('docker.container', '/web')], 'container name web', '/name'],
    ['a sysctl in dotted and slash form', [res('sysctl', 'net.ipv4.ip_forward'), res('sysctl', 'net/ipv4/ip_forward')], 'sysctl net/ipv4/ip_forward', '/name'],
    [
      'two backups of one volume (each element of a list is claimed)',
      [res('backup.volume', 'a', { volumes: ['pg', 'files'] }), res('backup.volume', 'b', { volumes: ['logs', 'files'] })],
      'volume backup files',
      '/volumes/1',
    ],
  ])('%s: refused', (_, resources, what, pointer) => {
    const errors = checkConflicts(resources, registry);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.code).toBe('RESOURCE_CONFLICT');
    expect(errors[0]!.message).toMatch(
      new RegExp(`^${what.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is managed twice: here and by ${resources[0]!.id.replace(/[.[\]]/g, '\\$&')} at /m/`),
    );
    expect(errors[0]!.location?.pointer).toBe(pointer);
  });

  it.each([
    [
      'dns that only keeps /etc/hosts entries, and a file on resolv.conf',
      [res('dns', 'a', { hosts: [{ address: '10.0.0.1', names: ['x'] }] }), res('file', '/etc/resolv.conf')],
    ],
    ['ntp and logging.rotate without a configPath', [res('ntp', 'a'), res('logging.rotate', 'a')]],
    ['a file with a relative path and one with that name', [res('file', 'a', { path: 'etc/x' }), res('file', 'b', { path: 'etc/x' })]],
    ['a container and a volume of one name', [res('docker.container', 'data'), res('docker.volume', 'data')]],
    ['a path and a container of one name', [res('file', '/web'), res('docker.container', '/web')]],
  ])('%s: no conflict', (_, resources) => {
    expect(checkConflicts(resources, registry)).toEqual([]);
  });
});
