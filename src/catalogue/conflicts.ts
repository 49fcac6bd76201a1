/**
 * Cross-resource checks at compile time: two resources that would manage the same thing
 * fight on every run (each "repairs" the other), so the catalogue is refused with an
 * error naming both and both locations. What a resource owns:
 *   file                 its path (`path`, else the name)
 *   docker.daemon        its configPath (default /etc/docker/daemon.json)
 *   logging.forward/rotate, ntp   their explicit configPath
 *   dns                  /etc/resolv.conf when it declares nameservers, search or options
 *                        (its /etc/hosts entries live in a block of its own)
 *   docker.container     its container name (the engine ignores a leading "/")
 *   sysctl               its key (dotted and slash forms are the same key)
 */
import path from 'node:path';
import { TsconvergeError, formatLocation } from '../core/errors.js';
import type { CatalogueResource } from '../core/types.js';

interface Claim { readonly what: string; readonly pointer: string }

function claims(r: CatalogueResource): Claim[] {
  const a = r.attrs as Record<string, unknown>;
  const file = (p: unknown, pointer: string): Claim[] => (typeof p === 'string' && p.startsWith('/') ? [{ what: `path ${path.posix.normalize(p).replace(/(.)\/$/, '$1')}`, pointer }] : []);
  switch (r.kind) {
    case 'file':
      return typeof a.path === 'string' ? file(a.path, '/path') : file(r.name, '/name');
    case 'docker.daemon':
      return file(a.configPath ?? '/etc/docker/daemon.json', a.configPath ? '/configPath' : '/name');
    case 'logging.forward':
    case 'logging.rotate':
    case 'ntp':
      return file(a.configPath, '/configPath');
    case 'dns':
      return ['nameservers', 'search', 'options'].some((k) => a[k] !== undefined) ? file('/etc/resolv.conf', '/name') : [];
    case 'docker.container':
      return [{ what: `container name ${r.name.replace(/^\//, '')}`, pointer: '/name' }];
    case 'sysctl':
      return [{ what: `sysctl ${r.name.includes('/') ? r.name : r.name.replace(/\./g, '/')}`, pointer: '/name' }];
    default:
      return [];
  }
}

/** Every pair of resources that claim the same path, container name or sysctl key. */
export function checkConflicts(resources: readonly CatalogueResource[]): TsconvergeError[] {
  const owner = new Map<string, { r: CatalogueResource; pointer: string }>();
  const errors: TsconvergeError[] = [];
  for (const r of resources) {
    for (const c of claims(r)) {
      const first = owner.get(c.what);
      if (!first) { owner.set(c.what, { r, pointer: c.pointer }); continue; }
      const firstAt = first.r.locate(first.pointer);
      errors.push(new TsconvergeError('RESOURCE_CONFLICT', `${c.what} is managed twice: here and by ${first.r.id} at ${formatLocation({ ...firstAt, pointer: undefined })}`, {
        resource: r.id,
        location: r.locate(c.pointer),
        terminal: true,
        hint: 'two resources managing one thing would undo each other on every run: keep one of them',
      }));
    }
  }
  return errors;
}
