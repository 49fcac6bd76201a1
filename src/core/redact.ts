/**
 * The process-wide registry of known secret values, and the one function that masks
 * them. Every secret tsconverge learns (a resolved `!secret`, a TSCONVERGE_SECRET_*
 * variable) is registered here; error messages and hints (TsconvergeError), log lines
 * (log.ts), plan and report output (cli) and everything a child process returns
 * (core/exec.ts) pass through `redact`, which replaces each known value with
 * `(sensitive)`, the same mask the plan uses for sensitive attributes.
 */
export const MASK = '(sensitive)';

const known = new Set<string>();
/** Values shorter than this are not masked: masking "1" everywhere would ruin every message. */
const MIN_LENGTH = 4;

export function registerSecret(value: string): void {
  if (typeof value !== 'string' || value.length < MIN_LENGTH) return;
  known.add(value);
  // A multi-line secret (a key) is masked line by line too: a tool may quote one line.
  for (const line of value.split(/\r?\n/)) if (line.trim().length >= 8) known.add(line);
}

/** Register every TSCONVERGE_SECRET_* value of an environment. */
export function registerEnvSecrets(env: NodeJS.ProcessEnv): void {
  for (const [k, v] of Object.entries(env)) if (k.startsWith('TSCONVERGE_SECRET_') && v) registerSecret(v);
}

export function knownSecrets(): readonly string[] {
  return [...known];
}

/** Forget every value (tests only). */
export function clearSecrets(): void {
  known.clear();
}

/** `text` with every known secret value replaced by the mask (longest first). */
export function redact(text: string): string {
  if (known.size === 0 || typeof text !== 'string' || text === '') return text;
  let out = text;
  for (const s of [...known].sort((a, b) => b.length - a.length)) if (out.includes(s)) out = out.split(s).join(MASK);
  return out;
}
