/**
 * The defaults of tsconverge, in one place: the engine falls back to them, the command
 * line shows them as option defaults, the agent bounds its stop with them.
 */
export const DEFAULTS = {
  /** The manifests validate, plan, apply and push read without a PATH (manifests/ in the repository is a starting point). */
  manifests: 'manifests',
  /** One provider call that changes the world (apply, refresh): `--timeout`. */
  applyTimeoutMs: 600_000,
  /** One provider call that only reads (suitability, read). */
  readTimeoutMs: 60_000,
  /** Resources applied at once: `--concurrency`. */
  concurrency: 8,
  /** Extra attempts after a failed apply whose error is not terminal: `--retries`. */
  retries: 1,
  /** The wait before the first retry; each later retry waits twice the one before (1 s, 2 s, 4 s, ...). */
  retryDelayMs: 1_000,
  /** After an interrupt, how long the resources in flight get before their calls are cancelled. */
  interruptGraceMs: 10_000,
  /** The catalogue server's TCP port: `tsconverge server --port`. */
  serverPort: 8140,
} as const;
