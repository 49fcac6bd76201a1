/**
 * Ownership: tsconverge never touches an object it did not create, unless told to adopt it.
 *
 * Everything tsconverge creates carries its owner label (io.tsconverge.owner=tsconverge).
 * An existing object with a declared name but without that label was made by someone
 * else (docker-compose, a person, another tool): the plan says so, naming the maker when
 * the labels do, and apply refuses it with a terminal NOT_OWNED error, unless the
 * resource says `adopt: true` or the run has `--adopt`. Adoption is its own plan action.
 *
 * The Docker engine cannot change a container's labels in place, so an adoption is
 * recorded in the state directory instead: `<stateDir>/adopted.json`, keyed by the
 * object's id (a container or network id; a volume's name and creation time). A record
 * never carries over to a new object that merely has the same name. When an adopted
 * object is later recreated by tsconverge, the new one carries the owner label.
 */
import { readFile } from 'node:fs/promises';
import type { Ownership, Provider, Resource, ResourcePlan } from '../providers/types.js';
import { TsconvergeError } from '../core/errors.js';
import { resolveStateDir, stateLayout } from '../core/state-layout.js';
import { writeFileAtomic } from '../core/atomic.js';

export interface AdoptionRecord {
  readonly resource: string;
  readonly at: string;
  readonly madeBy?: string;
}

export interface AdoptionStore {
  readonly file: string;
  has(objectId: string): boolean;
  /** Records an adoption (atomically: temp file and rename). Never called under noop. */
  record(objectId: string, rec: AdoptionRecord): Promise<void>;
}

/** The state directory the run lock uses: --state-dir, else $TSCONVERGE_STATE_DIR, else <root>/var/lib/tsconverge. */
export const resolveAdoptionDir = resolveStateDir;

/** Reads `<stateDir>/adopted.json` (missing: no adoptions). Reading never writes. */
export async function openAdoptionStore(stateDir: string): Promise<AdoptionStore> {
  const file = stateLayout(stateDir).adoptions;
  let objects: Record<string, AdoptionRecord> = {};
  let writing: Promise<void> = Promise.resolve();
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { objects?: Record<string, AdoptionRecord> };
    objects = parsed.objects ?? {};
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new TsconvergeError('FILE_IO', `cannot read the adoption records ${file}: ${(err as Error).message}`, {
        cause: err,
        hint: 'fix or remove the file; it lists the objects adopted with adopt: true',
      });
    }
  }
  return {
    file,
    has: (id) => Object.hasOwn(objects, id),
    record(id, rec) {
      objects = { ...objects, [id]: rec };
      // Resources are applied in parallel: writes are queued so each rename holds every record so far.
      writing = writing
        .catch(() => undefined)
        .then(() => writeFileAtomic(file, JSON.stringify({ formatVersion: 1, objects }, null, 2) + '\n', { mode: 0o644 }));
      return writing;
    },
  };
}

function notOwned(resource: Resource, o: Ownership): TsconvergeError {
  const who = o.madeBy ? `made by ${o.madeBy}` : 'made by hand or by another tool: its labels do not say';
  return new TsconvergeError('NOT_OWNED', `exists, not managed by tsconverge (${who}); it was left as it is`, {
    resource: resource.id,
    terminal: true,
    hint: 'to take it over, set adopt: true on the resource (or run with --adopt): tsconverge then manages it, without recreating it when nothing else differs. Otherwise rename the resource or remove the object yourself',
  });
}

/** Whether the resource asks to be adopted: its own `adopt: true`, or the run's --adopt. */
export function wantsAdopt(resource: Resource, adoptAll: boolean): boolean {
  return adoptAll || (resource.attrs as { adopt?: unknown }).adopt === true;
}

/**
 * The plan with ownership applied: unchanged for absent or owned objects; `adopt` (or the
 * planned change, marked adopt) for a foreign object the manifest adopts; otherwise a
 * terminal NOT_OWNED error, so the resource is reported and never touched.
 */
export function ownershipPlan(
  plan: ResourcePlan,
  provider: Provider,
  resource: Resource,
  observed: unknown,
  store: AdoptionStore,
  adoptAll: boolean,
): ResourcePlan {
  if (observed === null || observed === undefined || !provider.ownership) return plan;
  const o = provider.ownership(resource, observed);
  if (o.managed || store.has(o.objectId)) return plan;
  if (!wantsAdopt(resource, adoptAll)) throw notOwned(resource, o);
  return { ...plan, action: plan.action === 'none' ? 'adopt' : plan.action, adopt: o.madeBy ? { madeBy: o.madeBy } : {} };
}

/** Records the adoption a plan carries, before the provider is called. */
export async function recordAdoption(plan: ResourcePlan, provider: Provider, resource: Resource, observed: unknown, store: AdoptionStore): Promise<void> {
  if (!plan.adopt || !provider.ownership || observed === null || observed === undefined) return;
  const o = provider.ownership(resource, observed);
  await store.record(o.objectId, { resource: resource.id, at: new Date().toISOString(), ...(o.madeBy ? { madeBy: o.madeBy } : {}) });
}
