/**
 * Intentional or corrective: what an operator uses to tell a rollout from drift.
 *
 * After every applied run the agent keeps, per resource, a digest of its declared state
 * (the resolved attributes in the catalogue) as last converged. A change to a resource
 * is **intentional** when its declared state differs from that record (the catalogue
 * changed: a rollout), and **corrective** when it is the same (the catalogue did not
 * change, the host drifted). A resource that failed keeps its old record, so a failed
 * rollout is still intentional when it finally lands. The record holds digests only
 * (0600, `agent_applied.json` in the state directory, core/state-layout.ts; this module
 * alone reads and writes it), never values. It is not the engine's `applied.json`
 * (engine/applied-hashes.ts: hashes per attribute, to word drift in a plan).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { canonicalJson } from '../catalogue/compile.js';
import type { Catalogue, CatalogueResource } from '../core/types.js';
import type { ResourceReport } from '../engine/report.js';
import { writeFileAtomic } from '../core/atomic.js';
import { stateLayout } from '../core/state-layout.js';

export type Cause = 'intentional' | 'corrective';

/** The agent's record of what converged: per resource, the digest of its declared state. */
export interface ConvergedDigests {
  readonly formatVersion: 1;
  /** The catalogue digest of the last applied run. */
  readonly catalogue: string | null;
  readonly updatedAt: string | null;
  /** Resource id -> digest of its declared state when it last converged. */
  readonly resources: Readonly<Record<string, string>>;
}

export const NO_CONVERGED_DIGESTS: ConvergedDigests = { formatVersion: 1, catalogue: null, updatedAt: null, resources: {} };

export function declaredDigest(r: Pick<CatalogueResource, 'attrs'>): string {
  return createHash('sha256').update(canonicalJson(r.attrs)).digest('hex').slice(0, 32);
}

export async function readConvergedDigests(stateDir: string): Promise<ConvergedDigests> {
  try {
    const doc = JSON.parse(await readFile(stateLayout(stateDir).convergedDigests, 'utf8')) as ConvergedDigests;
    return doc?.formatVersion === 1 && doc.resources && typeof doc.resources === 'object' ? doc : NO_CONVERGED_DIGESTS;
  } catch {
    return NO_CONVERGED_DIGESTS; // none yet, or unreadable: every change counts as intentional
  }
}

/**
 * The cause of each resource's change: only for a change that happened (or, under noop,
 * would), never for a failed or skipped one. A restart only (no change of its own) takes
 * the cause of what notified it, as the engine recorded it (`notifiedBy`: explicit and
 * automatic notifications alike, e.g. a template-rendered file mounted into a container).
 * Resources come in apply order, so a notifier's cause is known before the notified one's.
 */
export function classifyChanges(catalogue: Catalogue, resources: readonly ResourceReport[], converged: ConvergedDigests): Map<string, Cause> {
  const causes = new Map<string, Cause>();
  const own = (r: ResourceReport): Cause => {
    const res = catalogue.byId.get(r.id);
    return res && converged.resources[r.id] === declaredDigest(res) ? 'corrective' : 'intentional';
  };
  for (const r of resources) {
    if (r.status !== 'changed' && r.status !== 'pending') continue;
    if (r.action !== 'none') causes.set(r.id, own(r));
    else if (r.refresh) causes.set(r.id, (r.notifiedBy ?? []).some((id) => causes.get(id) === 'intentional') ? 'intentional' : 'corrective');
  }
  return causes;
}

/** The record after an applied run: converged resources take their new digest, failed ones keep the old. */
export function nextConvergedDigests(catalogue: Catalogue, resources: readonly ResourceReport[], prior: ConvergedDigests, now = new Date()): ConvergedDigests {
  const out: Record<string, string> = {};
  const status = new Map(resources.map((r) => [r.id, r.status]));
  for (const res of catalogue.resources) {
    const s = status.get(res.id);
    if (s === 'changed' || s === 'unchanged') out[res.id] = declaredDigest(res);
    else if (prior.resources[res.id] !== undefined) out[res.id] = prior.resources[res.id]!;
  }
  return { formatVersion: 1, catalogue: catalogue.version, updatedAt: now.toISOString(), resources: out };
}

export async function writeConvergedDigests(stateDir: string, state: ConvergedDigests): Promise<void> {
  await writeFileAtomic(stateLayout(stateDir).convergedDigests, JSON.stringify(state) + '\n', { mode: 0o600 });
}
