/**
 * What a catalogue source is (the contract every source keeps: local manifests or a fleet
 * tree in source.ts, the catalogue server in server-source.ts) and the flags that select
 * one (checked in source-check.ts).
 */
import type { TsconvergeError } from '../core/errors.js';
import type { Catalogue } from '../core/types.js';
import type { Facts } from '../facts/facts.js';

export interface SourceResult {
  readonly catalogue: Catalogue;
  /** Catalogue content hash (catalogue.version). */
  readonly digest: string;
  /** True when this is the last-known-good, not fresh. */
  readonly cached: boolean;
  /** Why fresh failed, when cached. */
  readonly error?: TsconvergeError;
  /** The fleet/server code version when known. */
  readonly codeVersion?: string;
  /** When this catalogue was compiled or fetched (ISO time); the catalogue's age is measured from it. */
  readonly compiledAt?: string;
  /** Local sources: the inputs were unchanged since that compile, so its catalogue was reused (stamp.ts). */
  readonly reused?: boolean;
  /** Local sources that compiled: why the last compile's catalogue could not be reused (stamp.ts). */
  readonly compiledBecause?: string;
}

export interface CatalogueSource {
  load(facts: Facts, signal: AbortSignal): Promise<SourceResult>;
}

/** --server URL...: the catalogue server source (src/agent/server-source.ts). */
export interface ServerSelection {
  readonly servers: readonly string[];
  readonly caFingerprint?: string;
  readonly caFile?: string;
  readonly joinToken?: string;
  readonly connectTimeoutMs?: number;
  readonly waitForCertMs?: number;
}

/** What selects a source: the agent's flags. */
export interface SourceSelection {
  readonly stateDir: string;
  /** Fleet trees: the node (default: the hostname fact), environment, secrets directory. */
  readonly node?: string;
  readonly environment?: string;
  readonly secretsDir?: string;
  /** --manifests PATH (a manifest file or directory, or a fleet tree). */
  readonly manifests?: string;
  readonly server?: ServerSelection;
}

/** A catalogue source that can also deliver run reports (the server source). */
export interface ReportingSource extends CatalogueSource {
  sendReport(report: unknown): Promise<TsconvergeError | undefined>;
}
