/**
 * docker-compose 1.29 (Debian package): one service per container, fixed
 * container names, named network and volumes. `up -d` recreates only services
 * whose configuration hash changed. It has no dry-run mode.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { output, tail, type Command, type ExecResult } from '../exec.js';
import { COMMAND, IMAGE, LABEL_KEY, LABEL_VALUE, MOUNT_TARGET, RESTART, STOP_TIMEOUT, type Workload } from '../workload.js';
import type { Probe, Scenario, Step, Tool, Verdict } from './types.js';

const PROJECT = 'tscbench';

export const compose: Tool = {
  name: 'docker-compose',
  slow: false,
  unsupported: (s: Scenario): string | undefined => (s === 'S4' ? 'no dry-run mode in 1.29' : undefined),
  async probe(): Promise<Probe> {
    try {
      return { available: true, version: `docker-compose ${(await output(['docker-compose', 'version', '--short'])).trim()}` };
    } catch (err) {
      return { available: false, reason: `docker-compose not runnable (run bench/setup.sh): ${String(err)}` };
    }
  },
  async prepare(step: Step, dir: string): Promise<Command> {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'docker-compose.yml');
    writeFileSync(file, stringify(composeFile(step.workload)));
    return { argv: ['docker-compose', '--ansi', 'never', '-p', PROJECT, '-f', file, 'up', '-d'] };
  },
  judge(_step: Step, result: ExecResult): Verdict {
    const changed = /^(Creating|Recreating|Starting) /m.test(result.stderr);
    return result.exitCode === 0 ? { ok: true, changed } : { ok: false, changed, detail: tail(result.stderr) };
  },
};

function composeFile(w: Workload): unknown {
  const labels = { [LABEL_KEY]: LABEL_VALUE };
  return {
    version: '2.4',
    services: Object.fromEntries(
      w.containers.map((c) => [
        c.name.replace(/^tscbench-/, ''),
        {
          image: IMAGE,
          container_name: c.name,
          command: [...COMMAND],
          environment: c.env,
          labels,
          restart: RESTART,
          mem_limit: '64m',
          stop_grace_period: `${STOP_TIMEOUT}s`,
          networks: ['net'],
          volumes: [{ type: 'volume', source: c.volume, target: MOUNT_TARGET }],
        },
      ]),
    ),
    networks: { net: { name: w.network, driver: 'bridge', labels } },
    volumes: Object.fromEntries(w.volumes.map((v) => [v, { name: v, labels }])),
  };
}
