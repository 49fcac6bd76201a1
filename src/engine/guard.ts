/**
 * Every provider call goes through the guard: a timeout that aborts the call's signal
 * and fails it with a TIMEOUT error, and a crash guard that turns anything thrown into
 * a TsconvergeError naming the resource. A hung engine socket never hangs a run.
 */
import { TsconvergeError, toTsconvergeError } from '../core/errors.js';

export interface GuardOptions {
  /**
   * The run's hard stop (an interrupt, after its grace period): aborts the call's signal,
   * and the call is awaited at most INTERRUPT_SETTLE_MS more, then fails INTERRUPTED.
   */
  readonly parent?: AbortSignal;
  /** After a timeout, how long to wait for the cancelled call to settle (default: the timeout, at most 30 s). */
  readonly settleMs?: number;
}

const INTERRUPT_SETTLE_MS = 5_000;

const secondsOrMs = (ms: number): string => (ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`);

/** Wait for a cancelled call to settle, at most `ms`: true when it did. */
async function settles(call: Promise<unknown>, ms: number): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      call.then(
        () => true,
        () => true,
      ),
      new Promise<false>((r) => {
        t = setTimeout(() => r(false), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}

/**
 * A timed-out call is cancelled (its signal aborts) AND awaited, up to `settleMs`, before
 * the TIMEOUT error is thrown: a retry never starts while the previous attempt still
 * runs. A call that does not settle even then fails with a terminal TIMEOUT, so it is
 * never retried beside itself. An aborted `parent` cancels the call the same way.
 */
export async function guard<T>(
  what: string,
  resource: string | undefined,
  timeoutMs: number,
  fn: (signal: AbortSignal) => Promise<T>,
  opts: GuardOptions = {},
): Promise<T> {
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onParent: (() => void) | undefined;
  const stop = new Promise<'timeout' | 'interrupt'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
    timer.unref?.();
    onParent = () => resolve('interrupt');
    if (opts.parent?.aborted) onParent();
    else opts.parent?.addEventListener('abort', onParent, { once: true });
  });
  const call = Promise.resolve().then(() => fn(ctl.signal));
  try {
    const first = await Promise.race([call.then((value) => ({ value })), stop]);
    if (typeof first === 'object') return first.value;
    if (first === 'interrupt') {
      ctl.abort(opts.parent!.reason);
      const settled = await settles(call, INTERRUPT_SETTLE_MS);
      throw new TsconvergeError(
        'INTERRUPTED',
        `${what} was cancelled: the run was interrupted${settled ? '' : ` (it had not stopped ${secondsOrMs(INTERRUPT_SETTLE_MS)} later)`}`,
        {
          resource,
          terminal: true,
          hint: 'run apply again: it reads the resource and converges it from what is',
        },
      );
    }
    const limit = `${what} did not finish within ${secondsOrMs(timeoutMs)}`;
    ctl.abort(new TsconvergeError('TIMEOUT', limit, { resource }));
    const settleMs = opts.settleMs ?? Math.min(timeoutMs, 30_000);
    const settled = await settles(call, settleMs);
    throw new TsconvergeError('TIMEOUT', settled ? limit : `${limit}, and had not stopped ${secondsOrMs(settleMs)} after it was cancelled`, {
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
    if (onParent) opts.parent?.removeEventListener('abort', onParent);
  }
}
