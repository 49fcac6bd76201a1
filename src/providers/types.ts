/**
 * The one provider contract.
 *
 * A provider is a small, stateless object for one resource kind (`docker.container`,
 * `file`, ...). It knows how to read what is, and how to make it what is declared.
 * Everything else belongs to the engine: diffing, noop, ordering, retries, timeouts,
 * crash guarding, reporting, and the second read that proves a change took. A provider
 * cannot forget noop, because the engine never calls `apply` in noop.
 *
 * Rules (a provider that breaks one has a bug):
 * - No work at import time. `suitable` is the only place to probe the host, and it is
 *   called lazily, once per kind per run, only when the catalogue has that kind.
 * - `read`/`readMany` never change the world. They return the observed state, or
 *   `null` when the resource is absent. They throw only when the state cannot be
 *   known (engine unreachable, permission denied); "absent" is not an error.
 * - `views` is pure: it turns the desired attributes and the observed state into two
 *   comparable, normalised forms holding ONLY the attributes the manifest declares,
 *   so defaults filled in by the engine or the image are never drift, and order the
 *   system does not keep (sets) is sorted on both sides.
 * - `apply` converges the resource in one call or throws. On a throw it leaves the
 *   old state in place as far as the system allows ("a failed create leaves nothing
 *   behind; a failed replace leaves the old one running"). It returns the new
 *   observed state, which the engine compares again with the desired one.
 * - Providers never print and never exit. They log through `ctx.log` and throw
 *   `TsconvergeError` with a code and a hint.
 * - Capabilities, not raw paths: a provider reads and writes host files only through
 *   `ctx.fs` and starts processes only through `ctx.exec`; it never joins a path onto
 *   `ctx.root` and never passes `process.env` to a child.
 * - Secrets: a provider never logs attribute values; the engine masks sensitive
 *   values (schema `x-sensitive`, or a resource's `sensitive: true`) in every output.
 */
import type { Logger } from 'winston';
import type { ErrorCode, TsconvergeError } from '../core/errors.js';
import type { Facts } from '../facts/facts.js';
import type { RootFs } from '../core/rootfs.js';
import type { ProcessRunner } from '../core/exec.js';

/** The shared types of the contract (src/core/types.ts), so a provider file imports its contract from one place. */
export type { Json, View, Resource } from '../core/types.js';
import type { Json, View, Resource } from '../core/types.js';

/**
 * How one changed attribute is brought in line (from the schema's `x-change`): `update`
 * in place, `restart` in place and then restarted (the engine calls `refresh`), or
 * `replace` (the object is recreated).
 */
export type ChangeEffect = 'update' | 'restart' | 'replace';

export interface AttributeChange {
  /** JSON pointer into the view, e.g. `/environment/LOG_LEVEL`. */
  readonly path: string;
  /** Top-level attribute the change belongs to. */
  readonly attribute: string;
  readonly from?: Json;
  readonly to?: Json;
  readonly effect: ChangeEffect;
  readonly sensitive: boolean;
  /** Unified diff of a text value whose view holds only a hash (engine/textdiff.ts); `(sensitive content changed)` when sensitive. */
  readonly diff?: string;
  /** True when the old or new value is binary: shown by size and hash only. */
  readonly binary?: boolean;
  /** For a list: the elements that left and came; for a map changed whole: `{key: value}` entries (engine/delta.ts). */
  readonly removed?: readonly Json[];
  readonly added?: readonly Json[];
}

/** `adopt`: an object tsconverge did not create is taken over as it is (see engine/ownership.ts). */
export type Action = 'none' | 'create' | 'update' | 'replace' | 'delete' | 'adopt';

/** The engine's plan for one resource, handed to `apply`. */
export interface ResourcePlan {
  readonly action: Action;
  readonly changes: readonly AttributeChange[];
  /** Attributes that force a replace. */
  readonly forcedBy: readonly string[];
  /** True when a notifying resource changed and this one must restart/reload. */
  readonly refresh: boolean;
  /** Set when the object exists but tsconverge did not create it, and the manifest adopts it. */
  readonly adopt?: { readonly madeBy?: string };
}

/**
 * Who owns an existing object (engine/ownership.ts). `managed` is true when tsconverge
 * created it (its owner label); `objectId` is stable for the object's life (a Docker id),
 * so an adoption record never carries over to a new object with the same name.
 */
export interface Ownership {
  readonly managed: boolean;
  readonly objectId: string;
  /** Who made it, when its labels say ("Compose project shop, service web"). */
  readonly madeBy?: string;
}

export interface ProviderContext {
  /**
   * The host's root directory: '/' in production, a temp dir in tests. Informational:
   * a provider never joins paths onto it; it reaches files through `fs`.
   */
  readonly root: string;
  /**
   * The file system, confined to `root` (core/rootfs.ts): every path is a host path
   * (`/etc/hosts`), `..` is refused and no symlink is followed out of the root.
   */
  readonly fs: RootFs;
  /**
   * The process runner (core/exec.ts): no shell, a minimal explicit environment
   * (never tsconverge's own, never TSCONVERGE_SECRET_*), output masked of known secrets.
   */
  readonly exec: ProcessRunner;
  readonly log: Logger;
  readonly facts: Facts;
  /** Aborted when the engine gives up on the call (timeout). */
  readonly signal: AbortSignal;
}

/**
 * Why a provider cannot run on this host: a stable code (PROVIDER_UNSUITABLE, or a more
 * precise one such as DOCKER_UNREACHABLE) and the reason in words. The engine fails every
 * resource of the kind with this code; other kinds still converge.
 */
export interface Unsuitable {
  readonly code: ErrorCode;
  readonly reason: string;
}

/** `reason` as an Unsuitable: PROVIDER_UNSUITABLE unless a more precise code is given. */
export function unsuitable(reason: string, code: ErrorCode = 'PROVIDER_UNSUITABLE'): Unsuitable {
  return { code, reason };
}

/**
 * `A` is the kind's declared attributes (generated from its schema, src/generated/kinds.ts),
 * `O` what `readMany` observes. A provider of any kind is a `Provider` (the defaults), which
 * is how the registration list (kinds.ts) and the engine hold them.
 */
/** What `Provider.preflight` refuses: one resource, the attribute at fault, why. */
export interface Refusal {
  readonly id: string;
  /** JSON pointer of the attribute inside the resource, e.g. /name. */
  readonly pointer: string;
  readonly code: 'SYSCTL_UNKNOWN_KEY' | 'INVALID_VALUE';
  readonly message: string;
  readonly hint?: string;
}

export interface Provider<A extends object = object, O = unknown> {
  readonly kind: string;

  /**
   * Whether this provider can run here. Returns `undefined` when it can, or why it
   * cannot, with a code (`unsuitable("Docker engine not reachable at ...",
   * 'DOCKER_UNREACHABLE')`). Called lazily, at most once per run, only when the catalogue
   * has the kind; never probe the host at import time or in the factory.
   */
  suitable(ctx: ProviderContext): Promise<Unsuitable | undefined>;

  /**
   * Read the observed state of many resources of this kind in as few round trips as
   * the system allows (one list call for all containers). Keyed by `Resource.id`;
   * `null` means absent.
   */
  readMany(resources: readonly Resource<A>[], ctx: ProviderContext): Promise<ReadonlyMap<string, O | null>>;

  /** The normalised desired and actual forms; `actual` is null when absent. */
  views(resource: Resource<A>, observed: O | null, ctx: ProviderContext): { readonly desired: View; readonly actual: View | null };

  /**
   * Whether the resource is declared absent, so the engine plans a delete. Optional:
   * without it the engine uses `ensure: absent` (see `declaredAbsent`), which is what
   * every kind with an `ensure` attribute means.
   */
  wantsAbsent?(resource: Resource<A>): boolean;

  /**
   * The old and new bytes of attributes whose views hold only a hash (a file's
   * content), so the engine can show a diff. Optional; pure. A provider returns the old
   * bytes only when it read them, and never reads them for sensitive values.
   */
  texts?(resource: Resource<A>, observed: O | null): Readonly<Record<string, { readonly from?: string | Buffer; readonly to?: string | Buffer }>>;

  /**
   * Under noop only: what a pending change of a dependency will do to this resource
   * when applied (a docker.image whose tag moved in the registry replaces the
   * containers that use it). Lets a dry run predict what the real run will do after
   * the dependency changed. Optional; pure.
   */
  follows?(resource: Resource<A>, dependency: Resource, dependencyPlan: ResourcePlan): 'replace' | undefined;

  /**
   * What a replace (or a restart, for `refresh`) of this resource will cost. Optional;
   * pure. The engine shows it with every replace and restart in the plan and report.
   */
  consequences?(resource: Resource<A>, observed: O | null, change: 'replace' | 'restart'): Consequences | undefined;

  /**
   * Whether apply will refuse this planned change (a volume replace that would lose its
   * data): the error, or undefined. Pure. The engine asks it in plan and apply alike,
   * before `apply`, so a plan shows what apply will do: the resource refused, why, and
   * the dependents skipped because of it. Optional.
   */
  refuse?(resource: Resource<A>, plan: ResourcePlan): TsconvergeError | undefined;

  /**
   * Refuse, before anything is read for the plan or written (validate, plan and apply call
   * it right after the catalogue is loaded), what this host can never apply: a sysctl key
   * its kernel does not have. Each refusal names the resource and the attribute's JSON
   * pointer, so the error carries file:line:column. Optional; reads only, never writes.
   * What the catalogue alone decides belongs in the schema (spec/), not here.
   */
  preflight?(resources: readonly Resource<A>[]): Promise<readonly Refusal[]>;

  /**
   * Converge: create, update in place, replace or delete, as `plan.action` says.
   * Returns the new observed state (or null when deleted).
   */
  apply(resource: Resource<A>, plan: ResourcePlan, observed: O | null, ctx: ProviderContext): Promise<O | null>;

  /**
   * Restart or reload in reaction to a notification (a changed config file).
   * Kinds that cannot be refreshed leave it undefined; the engine then ignores notify.
   */
  refresh?(resource: Resource<A>, observed: O | null, ctx: ProviderContext): Promise<void>;

  /**
   * Implicit dependencies this resource has on others in the catalogue (a container
   * on its image, networks and volumes). Returns `kind[name]` ids; ids that are not in
   * the catalogue are ignored by the engine.
   */
  autoRequire?(resource: Resource<A>, all: readonly Resource[]): readonly string[];

  /**
   * Kinds whose objects can exist without tsconverge (containers, networks, volumes):
   * who owns the observed object. The engine refuses to touch an object it does not
   * own unless the resource says `adopt: true` (or the run `--adopt`).
   */
  ownership?(resource: Resource<A>, observed: O): Ownership;

  /**
   * What the run report says about this resource besides its changes (backup.volume: each
   * volume's last successful backup, its size and duration, the snapshot count, whether it
   * is overdue). Optional; pure; from the last observed state. Never holds a secret.
   */
  details?(resource: Resource<A>, observed: O | null): Readonly<Record<string, Json>> | undefined;
  /**
   * How the agent can watch this resource between runs, so a change made by hand is
   * repaired in seconds instead of at the next sweep (agent/watch). Optional and pure: no
   * host access. Docker kinds name the engine object (`{ docker: 'container', name }`): the
   * agent follows the engine's event stream for it. Kinds that write files name each
   * managed path (`{ path: '/etc/app.conf' }`): the agent watches the file's PARENT
   * directory, since a rename (an editor, `sed -i`, `mv`) replaces the file's inode and a
   * watch on the file itself would be lost. A kind without it is repaired by the sweep.
   */
  watch?(resource: Resource<A>): readonly WatchTarget[];

  /** Implicit notifications: ids of resources that must refresh this one when they change. */
  autoSubscribe?(resource: Resource<A>, all: readonly Resource[]): readonly string[];
}

/** What the agent watches for one resource (Provider.watch): an engine object, or a file path on the host (under --root). */
export type WatchTarget = { readonly docker: 'container' | 'network' | 'volume'; readonly name: string } | { readonly path: string };

/** What a replace or restart costs, in words an operator can approve (shown in the plan and report). */
export interface Consequences {
  /** The expected downtime, e.g. "up to 10 s (stop timeout) while the old stops and the new starts". */
  readonly downtime: string;
  /** Seconds the old process gets between SIGTERM and SIGKILL. */
  readonly stopTimeoutS?: number;
  /** True when a health check must pass before the old one is removed. */
  readonly healthGated: boolean;
  /** What happens, in order. */
  readonly order: string;
  /** Data that is kept: "volume pg-data at /var/lib/postgresql/data". */
  readonly keeps: readonly string[];
}

/** Whether `resource` is declared absent: the provider's own rule, else `ensure: absent`. */
export function declaredAbsent(provider: Provider | undefined, resource: Resource): boolean {
  return provider?.wantsAbsent?.(resource) ?? (resource.attrs as { ensure?: unknown }).ensure === 'absent';
}
