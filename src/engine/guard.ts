/**
 * Every provider call goes through the guard: a timeout that aborts the call's signal
 * and fails it with a TIMEOUT error, and a crash guard that turns anything thrown into
 * a TsconvergeError naming the resource. A hung engine socket never hangs a run.
 */
import { TsconvergeError, toTsconvergeError } from './errors.js';

export async function guard<T>(what: string, resource: string | undefined, timeoutMs: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ctl.abort();
      reject(new TsconvergeError('TIMEOUT', `${what} did not finish within ${Math.round(timeoutMs / 1000)} s`, {
        resource,
        hint: 'the system did not answer in time; check that it is responsive, or raise the timeout (--timeout)',
      }));
    }, timeoutMs);
    timer.unref?.();
  });
  try {
    return await Promise.race([Promise.resolve().then(() => fn(ctl.signal)), timeout]);
  } catch (err) {
    throw toTsconvergeError(err, resource);
  } finally {
    clearTimeout(timer);
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
