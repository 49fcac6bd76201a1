/**
 * Cross-resource checks at compile time: two resources that would manage the same thing
 * fight on every run (each "repairs" the other), so the catalogue is refused with an
 * error naming both and both locations. What a resource owns comes from its kind's schema
 * (`x-claim` in spec/kinds/*.json, read by spec/claims.ts): a file its path, docker.daemon
 * its daemon.json, a container its name, a sysctl its key, and so on.
 */
import { TsconvergeError, formatLocation } from '../core/errors.js';
import type { CatalogueResource } from '../core/types.js';
import { claimsOf } from '../spec/claims.js';
import type { SchemaRegistry } from '../spec/schemas.js';

/** Every pair of resources that claim the same thing (the same path, container name, sysctl key ...). */
export function checkConflicts(resources: readonly CatalogueResource[], registry: SchemaRegistry): TsconvergeError[] {
  const owner = new Map<string, { r: CatalogueResource; pointer: string }>();
  const errors: TsconvergeError[] = [];
  for (const r of resources) {
    for (const c of claimsOf(registry.kinds.get(r.kind)?.claims ?? [], r)) {
      const what = `${c.what} ${c.value}`;
      const first = owner.get(what);
      if (!first) {
        owner.set(what, { r, pointer: c.pointer });
        continue;
      }
      const firstAt = first.r.locate(first.pointer);
      errors.push(
        new TsconvergeError(
          'RESOURCE_CONFLICT',
          `${what} is managed twice: here and by ${first.r.id} at ${formatLocation({ ...firstAt, pointer: undefined })}`,
          {
            resource: r.id,
            location: r.locate(c.pointer),
            terminal: true,
            hint: 'two resources managing one thing would undo each other on every run: keep one of them',
          },
        ),
      );
    }
  }
  return errors;
}
