/**
 * The floor: what a plain docker CLI script costs. S1 runs `docker run` in
 * parallel (xargs -P); S2 and S4 read everything with one batched `docker ps` and
 * one `docker inspect`; S3 stops, removes and runs the one changed container.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command, ExecResult } from '../exec.js';
import { output } from '../exec.js';
import { LABEL_KEY, LABEL_VALUE, STOP_TIMEOUT, changedContainer, dockerRunArgs, type Workload } from '../workload.js';
import type { Probe, Scenario, Step, Tool, Verdict } from './types.js';

/** Parallel `docker run`s in S1 (2 cores; the engine is the bottleneck). */
const PARALLEL = Number(process.env['BENCH_FLOOR_PARALLEL'] ?? 16);

export const floor: Tool = {
  name: 'floor (docker CLI)',
  slow: false,
  unsupported: (): undefined => undefined,
  async probe(): Promise<Probe> {
    const v = (await output(['docker', 'version', '--format', '{{.Client.Version}}'])).trim();
    return { available: true, version: `docker CLI ${v}` };
  },
  async prepare(step: Step, dir: string): Promise<Command> {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${step.scenario.toLowerCase()}.sh`);
    writeFileSync(file, script(step.scenario, step.workload, dir));
    return { argv: ['bash', file] };
  },
  judge(_step: Step, result: ExecResult): Verdict {
    return { ok: result.exitCode === 0, changed: null };
  },
};

function script(scenario: Scenario, w: Workload, dir: string): string {
  const label = `${LABEL_KEY}=${LABEL_VALUE}`;
  const head = 'set -euo pipefail\n';
  switch (scenario) {
    case 'S1': {
      const runs = join(dir, 'runs.txt');
      writeFileSync(runs, w.containers.map((c) => `${dockerRunArgs(w, c).join(' ')}\n`).join(''));
      return (
        head +
        `docker network create --driver bridge --label ${label} ${w.network} >/dev/null\n` +
        `printf '%s\\n' ${w.volumes.join(' ')} | xargs -P ${PARALLEL} -I{} docker volume create --label ${label} {} >/dev/null\n` +
        `xargs -P ${PARALLEL} -L 1 docker run -d <${runs} >/dev/null\n`
      );
    }
    case 'S2':
    case 'S4':
      return head + `ids=$(docker ps -aq --filter label=${label})\n` + 'docker inspect $ids >/dev/null\n';
    case 'S3': {
      const c = changedContainer(w);
      return (
        head +
        `docker stop -t ${STOP_TIMEOUT} ${c.name} >/dev/null\n` +
        `docker rm ${c.name} >/dev/null\n` +
        `docker run -d ${dockerRunArgs(w, c).join(' ')} >/dev/null\n`
      );
    }
  }
}
