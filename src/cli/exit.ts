/** Exit codes, the CLI's contract (README.md, "Exit codes"). Only src/cli exits. */
export const EXIT = {
  /** Nothing to change. */
  OK: 0,
  /** Did not run: bad input, the catalogue could not be loaded. */
  NOT_RUN: 1,
  /** Changes applied, or pending under --noop. */
  CHANGES: 2,
  /** Failures. */
  FAILURES: 4,
  /** Changes and failures. */
  CHANGES_AND_FAILURES: 6,
  /** Interrupted by SIGINT / SIGTERM (128 + signal): the report was printed, the lock released. */
  INTERRUPTED_SIGINT: 130,
  INTERRUPTED_SIGTERM: 143,
} as const;
