/**
 * The run report: one entry per resource, a summary, and the exit code. Its JSON form
 * (`--format json`) is stable and documented in docs/plan-and-report.md ("JSON report"); fields are
 * only ever added.
 */
import type { Action, AttributeChange, Consequences, Json } from '../providers/types.js';
import type { TsconvergeError } from '../core/errors.js';

export type Status = 'unchanged' | 'changed' | 'pending' | 'failed' | 'skipped';

export interface ResourceReport {
  readonly id: string;
  readonly kind: string;
  readonly name: string;
  readonly action: Action;
  readonly status: Status;
  readonly changes: readonly AttributeChange[];
  /** Present when the object exists, tsconverge did not create it, and the run adopts it. */
  readonly adopt?: { readonly madeBy?: string };
  readonly forcedBy: readonly string[];
  /** True when a notification restarted (or, under noop, would restart) it. */
  readonly refresh: boolean;
  /** The resources whose change in this run notified it (explicit notify/subscribe and automatic ones: a file mounted into a container); a notified restart takes their cause. */
  readonly notifiedBy?: readonly string[];
  /** When the restart was owed by an earlier run that did not finish it: the resource whose change owed it. */
  readonly refreshOwedBy?: string;
  /** How the difference came about when it was not declared: `removed outside tsconverge`, `changed outside tsconverge: environment FOO`. */
  readonly drift?: string;
  /** Under noop: the dependency whose pending change will replace this resource (a docker.image whose tag moved). */
  readonly follows?: string;
  /** What a replace or restart costs: downtime, health gate, order, data kept. */
  readonly consequences?: Consequences;
  /** True when the provider refuses the planned change (Provider.refuse): status failed, in a plan as in the apply it predicts; its dependents are skipped. */
  readonly refused?: boolean;
  readonly error?: ReturnType<TsconvergeError['toJSON']>;
  /** What the kind reports besides changes (Provider.details), e.g. a backup's freshness. */
  readonly details?: Readonly<Record<string, Json>>;
  readonly durationMs: number;
  /** When a changed resource's change (and its second read) finished. */
  readonly finishedAt?: string;
}

export interface Summary {
  readonly total: number;
  readonly unchanged: number;
  readonly changed: number;
  readonly pending: number;
  readonly failed: number;
  readonly skipped: number;
}

export interface Report {
  readonly formatVersion: 1;
  readonly catalogue: string;
  readonly noop: boolean;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly resources: readonly ResourceReport[];
  readonly summary: Summary;
  readonly exitCode: 0 | 2 | 4 | 6;
  /** Present and true when the run was interrupted (RunOptions.signal): resources not started are skipped with INTERRUPTED. */
  readonly interrupted?: boolean;
}

export function summarise(resources: readonly ResourceReport[]): Summary {
  const count = (s: Status): number => resources.filter((r) => r.status === s).length;
  return {
    total: resources.length,
    unchanged: count('unchanged'),
    changed: count('changed'),
    pending: count('pending'),
    failed: count('failed'),
    skipped: count('skipped'),
  };
}

/** 0 nothing to change, 2 changes (applied or pending), 4 failures, 6 both. */
export function exitCodeOf(summary: Summary): 0 | 2 | 4 | 6 {
  const changes = summary.changed + summary.pending > 0 ? 2 : 0;
  const failures = summary.failed + summary.skipped > 0 ? 4 : 0;
  return (changes + failures) as 0 | 2 | 4 | 6;
}
