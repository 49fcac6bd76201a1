/** The one interface each tool under measurement implements. */
import type { Command, ExecResult } from '../exec.js';
import type { Workload } from '../workload.js';

/**
 * S1 converge from empty; S2 no change; S3 one container's environment changed;
 * S4 dry run of such a change.
 */
export type Scenario = 'S1' | 'S2' | 'S3' | 'S4';
export const SCENARIOS: readonly Scenario[] = ['S1', 'S2', 'S3', 'S4'];

export type Probe = { readonly available: true; readonly version: string } | { readonly available: false; readonly reason: string };

/** What the tool said about its own run, from its exit code and output. */
export interface Verdict {
  /** The tool reported success (no failures). */
  readonly ok: boolean;
  /** The tool reported a change (applied, or pending in a dry run); null when it cannot say. */
  readonly changed: boolean | null;
  readonly detail?: string;
}

export interface Step {
  readonly scenario: Scenario;
  /** The state the tool is asked to converge to (or, in S4, to report as pending). */
  readonly workload: Workload;
  /** 1-based repetition number. */
  readonly run: number;
}

export interface Tool {
  readonly name: string;
  /** Slow peers may use fewer repetitions (see --peer-reps). */
  readonly slow: boolean;
  /** Why the tool cannot do a scenario (e.g. no dry-run mode), or undefined when it can. */
  unsupported(scenario: Scenario): string | undefined;
  probe(): Promise<Probe>;
  /** Writes the tool's own files for this step under `dir` and returns the command to time. */
  prepare(step: Step, dir: string): Promise<Command>;
  /** Reads the tool's exit code and output. */
  judge(step: Step, result: ExecResult): Verdict;
}
