/**
 * What a caller asks of a run (`RunOptions`, every tunable optional) and what the run then
 * works with (`RunConfig`): the options resolved once, each default taken from
 * core/defaults.ts, so no phase falls back to a default of its own.
 */
import type { Logger } from 'winston';
import type { Facts } from '../facts/facts.js';
import { createSchemaRegistry, type SchemaRegistry } from '../spec/schemas.js';
import { DEFAULTS } from '../core/defaults.js';

export interface RunOptions {
  readonly noop: boolean;
  readonly root: string;
  readonly log: Logger;
  readonly facts: Facts;
  /** Resources applied at once. */
  readonly concurrency?: number;
  /** Per provider call. */
  readonly readTimeoutMs?: number;
  readonly applyTimeoutMs?: number;
  /** Extra attempts after a failed apply whose error is not terminal (re-read and re-planned first). */
  readonly retries?: number;
  /** Wait before retry n (1-based); defaults to 1 s, 2 s, 4 s, ... */
  readonly retryDelayMs?: (attempt: number) => number;
  readonly schemas?: SchemaRegistry;
  /**
   * Interrupts the run (SIGINT/SIGTERM): no new resource is started (the rest are skipped
   * with INTERRUPTED) and no retry either; a resource in flight may finish, and after
   * `interruptGraceMs` (default 10 s) its call's signal aborts so the provider stops or
   * undoes its write. The report is still returned, with `interrupted: true`.
   */
  readonly signal?: AbortSignal;
  readonly interruptGraceMs?: number;
  /** Where run state lives (last applied state, owed restarts); none: nothing is remembered. */
  readonly stateDir?: string;
  /** Replace `stateful: true` resources too (engine/hold.ts). */
  readonly allowReplace?: boolean;
  /** Adopt every existing object tsconverge did not create (`--adopt`); see engine/ownership.ts. */
  readonly adopt?: boolean;
}

/** The options of one run with every default applied (resolveRunConfig). */
export interface RunConfig {
  readonly noop: boolean;
  readonly root: string;
  readonly log: Logger;
  readonly facts: Facts;
  /** At least 1. */
  readonly concurrency: number;
  readonly readTimeoutMs: number;
  readonly applyTimeoutMs: number;
  readonly retries: number;
  readonly retryDelayMs: (attempt: number) => number;
  readonly schemas: SchemaRegistry;
  readonly signal: AbortSignal | undefined;
  readonly interruptGraceMs: number;
  readonly stateDir: string | undefined;
  readonly allowReplace: boolean;
  readonly adopt: boolean;
}

/** Retry n (1-based) waits DEFAULTS.retryDelayMs, doubled for each retry before it. */
const doubling = (attempt: number): number => DEFAULTS.retryDelayMs * 2 ** (attempt - 1);

export function resolveRunConfig(opts: RunOptions): RunConfig {
  return Object.freeze({
    noop: opts.noop,
    root: opts.root,
    log: opts.log,
    facts: opts.facts,
    concurrency: Math.max(1, opts.concurrency ?? DEFAULTS.concurrency),
    readTimeoutMs: opts.readTimeoutMs ?? DEFAULTS.readTimeoutMs,
    applyTimeoutMs: opts.applyTimeoutMs ?? DEFAULTS.applyTimeoutMs,
    retries: opts.retries ?? DEFAULTS.retries,
    retryDelayMs: opts.retryDelayMs ?? doubling,
    schemas: opts.schemas ?? createSchemaRegistry(),
    signal: opts.signal,
    interruptGraceMs: opts.interruptGraceMs ?? DEFAULTS.interruptGraceMs,
    stateDir: opts.stateDir,
    allowReplace: opts.allowReplace ?? false,
    adopt: opts.adopt ?? false,
  });
}
