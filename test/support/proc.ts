/**
 * Watching every process while a test runs: /proc/PID/cmdline (and, when asked,
 * /proc/PID/environ) of every live process is read in a tight loop until the work ends,
 * so a short-lived child (a 300 ms remote apply) is seen. Tests use it to prove a secret
 * is in no process's arguments or environment.
 */
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';

export type ProcFile = 'cmdline' | 'environ';

/** Run `work`, calling `inspect` for each process file read meanwhile; returns its result and the number of sweeps of /proc. */
export async function whileSampling<T>(
  inspect: (pid: string, file: ProcFile, text: string) => void,
  work: () => Promise<T>,
  files: readonly ProcFile[] = ['cmdline'],
): Promise<{ result: T; sweeps: number }> {
  let running = true;
  let sweeps = 0;
  const sampler = (async () => {
    while (running) {
      for (const pid of await readdir('/proc').catch(() => [] as string[])) {
        if (!/^\d+$/.test(pid)) continue;
        for (const file of files) {
          // Synchronous reads: a sweep of /proc stays short enough to see a 300 ms process on a
          // loaded machine (async reads made single sweeps outlast it on Node 24).
          let text = '';
          try {
            text = readFileSync(`/proc/${pid}/${file}`, 'latin1');
          } catch {
            continue; /* the process is gone */
          }
          inspect(pid, file, text);
        }
      }
      sweeps++;
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  try {
    return { result: await work(), sweeps };
  } finally {
    running = false;
    await sampler;
  }
}
