/** Command-line flags and environment variables of `npm run bench`. */
import { parseArgs } from 'node:util';

export const TOOL_SLUGS = ['floor', 'tsconverge', 'compose', 'ansible', 'puppet'] as const;
export type ToolSlug = (typeof TOOL_SLUGS)[number];

export interface Options {
  /** Repetitions per scenario. */
  readonly reps: number;
  /** Repetitions for the slow peers (ansible, puppet). */
  readonly peerReps: number;
  readonly tools: readonly ToolSlug[];
  readonly startupRuns: number;
  readonly catalogueIterations: number;
  /** Nodes compiled by the fleet benchmark. */
  readonly fleetNodes: number;
  readonly setup: boolean;
  /** Container counts of the scale curve (S2 for the floor and tsconverge); empty: skipped. */
  readonly scale: readonly number[];
  /** Pairs of S2 and of S4 runs, floor and tsconverge back to back (bench/paired.ts); 0: skipped. */
  readonly pairs: number;
}

export const USAGE = `usage: npm run bench -- [options]
  --reps N                  repetitions per scenario (env BENCH_REPS, default 3)
  --peer-reps N             repetitions for ansible and puppet (env BENCH_PEER_REPS, default = reps)
  --tools a,b               subset of ${TOOL_SLUGS.join(',')} (env BENCH_TOOLS, default all)
  --startup-runs N          tsconverge --version spawns (env BENCH_STARTUP_RUNS, default 30)
  --catalogue-iterations N  manifest loads (env BENCH_CATALOGUE_ITERATIONS, default 200)
  --fleet-nodes N           fleet catalogues compiled (env BENCH_FLEET_NODES, default 1000)
  --scale N,N,...           container counts of the no-change scale curve (env BENCH_SCALE, default 50,200,500; none to skip)
  --pairs N                 floor/tsconverge pairs for the paired S2 and S4 ratios (env BENCH_PAIRS, default 20; 0 to skip)
  --skip-setup              do not run bench/setup.sh first
  --help`;

export function resolveOptions(argv: readonly string[], env: NodeJS.ProcessEnv): Options | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      reps: { type: 'string' },
      'peer-reps': { type: 'string' },
      tools: { type: 'string' },
      'startup-runs': { type: 'string' },
      'catalogue-iterations': { type: 'string' },
      'fleet-nodes': { type: 'string' },
      'skip-setup': { type: 'boolean' },
      scale: { type: 'string' },
      pairs: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help === true) return 'help';
  const reps = positive('--reps', values.reps ?? env['BENCH_REPS'] ?? '3');
  const tools = (values.tools ?? env['BENCH_TOOLS'] ?? TOOL_SLUGS.join(',')).split(',').map((t) => t.trim());
  for (const t of tools) {
    if (!(TOOL_SLUGS as readonly string[]).includes(t)) {
      throw new Error(`Unknown tool: ${t}. Accepted values are ${TOOL_SLUGS.join(', ')}.`);
    }
  }
  return {
    reps,
    peerReps: positive('--peer-reps', values['peer-reps'] ?? env['BENCH_PEER_REPS'] ?? String(reps)),
    tools: TOOL_SLUGS.filter((t) => tools.includes(t)),
    startupRuns: positive('--startup-runs', values['startup-runs'] ?? env['BENCH_STARTUP_RUNS'] ?? '30'),
    catalogueIterations: positive('--catalogue-iterations', values['catalogue-iterations'] ?? env['BENCH_CATALOGUE_ITERATIONS'] ?? '200'),
    fleetNodes: positive('--fleet-nodes', values['fleet-nodes'] ?? env['BENCH_FLEET_NODES'] ?? '1000'),
    setup: values['skip-setup'] !== true,
    scale: scaleSizes(values.scale ?? env['BENCH_SCALE'] ?? '50,200,500'),
    pairs: pairCount(values.pairs ?? env['BENCH_PAIRS'] ?? '20'),
  };
}

function pairCount(text: string): number {
  return text === '0' || text === 'none' ? 0 : positive('--pairs', text);
}

function scaleSizes(text: string): number[] {
  if (text === 'none' || text === '') return [];
  return text.split(',').map((t) => positive('--scale', t.trim()));
}

function positive(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`Invalid ${flag}: ${text}. Accepted values are integers >= 1.`);
  return n;
}
