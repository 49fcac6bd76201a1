/**
 * Every provider call goes through the guard: a timeout that aborts the call's signal
 * and fails it with a TIMEOUT error, and a crash guard that turns anything thrown into
 * a TsconvergeError naming the resource. A hung engine socket never hangs a run.
 */
import { TsconvergeError, toTsconvergeError } from './errors.js';

export interface GuardOptions {
  /** Aborting it aborts the call's signal too (a run being interrupted, after its grace period). */
  readonly parent?: AbortSignal;
  /** After a timeout, how long to wait for the cancelled call to settle (default: the timeout, at most 30 s). */
  readonly settleMs?: number;
}

/**
 * A timed-out call is cancelled (its signal aborts) AND awaited, up to `settleMs`, before
 * the TIMEOUT error is thrown: a retry never starts while the previous attempt still
 * runs. A call that does not settle even then fails with a terminal TIMEOUT, so it is
 * never retried beside itself.
 */
export async function guard<T>(what: string, resource: string | undefined, timeoutMs: number, fn: (signal: AbortSignal) => Promise<T>, opts: GuardOptions = {}): Promise<T> {
  const ctl = new AbortController();
  const onParent = (): void => ctl.abort(opts.parent!.reason);
  if (opts.parent?.aborted) onParent(); else opts.parent?.addEventListener('abort', onParent, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
    timer.unref?.();
  });
  const call = Promise.resolve().then(() => fn(ctl.signal));
  try {
    const first = await Promise.race([call.then((value) => ({ value })), timedOut]);
    if (first !== 'timeout') return first.value;
    const limit = `${what} did not finish within ${timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`}`;
    ctl.abort(new TsconvergeError('TIMEOUT', limit, { resource }));
    const settleMs = opts.settleMs ?? Math.min(timeoutMs, 30_000);
    let settleTimer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      call.then(() => true, () => true),
      new Promise<false>((resolve) => { settleTimer = setTimeout(() => resolve(false), settleMs); }),
    ]);
    clearTimeout(settleTimer);
    throw new TsconvergeError('TIMEOUT', settled ? limit : `${limit}, and had not stopped ${Math.round(settleMs / 1000)} s after it was cancelled`, {
      resource,
      terminal: !settled,
      hint: settled
        ? 'the system did not answer in time; check that it is responsive, or raise the timeout (--timeout)'
        : 'not retried, so that two attempts never run side by side; check the system, then run again',
    });
  } catch (err) {
    throw toTsconvergeError(err, resource);
  } finally {
    clearTimeout(timer);
    opts.parent?.removeEventListener('abort', onParent);
  }
}

/** Run tasks with at most `limit` in flight. */
export function createLimiter(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  const next = (): void => {
    if (active >= limit) return;
    const start = queue.shift();
    if (start) { active++; start(); }
  };
  return <T>(task: () => Promise<T>) => new Promise<T>((resolve, reject) => {
    queue.push(() => {
      task().then(resolve, reject).finally(() => { active--; next(); });
    });
    next();
  });
}
