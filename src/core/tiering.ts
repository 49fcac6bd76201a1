/**
 * The single executable starts one-shot commands with V8's optimizing compilers off: a
 * run of a few hundred milliseconds ends before optimised code pays back (see
 * scripts/sea-launcher.cjs). They come back on after 300 ms of CPU time, or here, as
 * soon as the code knows the work will be long (a large manifest, a fleet compile).
 * Outside the executable (node, tsx, tests) this does nothing.
 */
export function fullSpeed(): void {
  (globalThis as { __tsconvergeFullSpeed?: () => void }).__tsconvergeFullSpeed?.();
}

/** Bytes of YAML from which a load asks for the optimizing compilers at once. */
export const LARGE_INPUT_BYTES = 256 * 1024;

/**
 * While a YAML document of at least PARSE_SPEED_BYTES is parsed, the single executable's
 * one-shot mode turns on V8's baseline compiler (Sparkplug): the parser's loops run
 * hundreds of thousands of times in one parse, where the interpreter alone is slowest.
 * The returned function switches it off again. Measured on the bench's S4 (a dry run that
 * parses a 21 KB manifest): 0.96x the CPU, the same peak; Sparkplug with Maglev was 1.10x
 * the CPU and 11 MB more. Outside the executable (and in agent/server, which keep every
 * compiler) it does nothing.
 */
export function parseSpeed(bytes: number): () => void {
  if (bytes < PARSE_SPEED_BYTES) return () => undefined;
  return (globalThis as { __tsconvergeParseSpeed?: () => () => void }).__tsconvergeParseSpeed?.() ?? (() => undefined);
}

export const PARSE_SPEED_BYTES = 8 * 1024;
