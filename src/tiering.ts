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
