/**
 * ansible-playbook with community.docker (docker_network, docker_volume,
 * docker_container) against localhost, connection=local. Dry run: `--check`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { output, tail, type Command, type ExecResult } from '../exec.js';
import { COMMAND, IMAGE, LABEL_KEY, LABEL_VALUE, MOUNT_TARGET, RESTART, STOP_TIMEOUT, type Workload } from '../workload.js';
import type { Probe, Step, Tool, Verdict } from './types.js';

export const ansible: Tool = {
  name: 'ansible',
  slow: true,
  unsupported: (): undefined => undefined,
  async probe(): Promise<Probe> {
    try {
      const v = (await output(['ansible-playbook', '--version'])).split('\n')[0] ?? '';
      const core = /core ([\d.]+)/.exec(v)?.[1] ?? v;
      return { available: true, version: `ansible-core ${core}` };
    } catch (err) {
      return { available: false, reason: `ansible-playbook not runnable (run bench/setup.sh): ${String(err)}` };
    }
  },
  async prepare(step: Step, dir: string): Promise<Command> {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'playbook.yml');
    writeFileSync(file, stringify(playbook(step.workload)));
    return {
      argv: [
        'ansible-playbook',
        '-i',
        'localhost,',
        '-c',
        'local',
        '-e',
        'ansible_python_interpreter=/usr/bin/python3',
        ...(step.scenario === 'S4' ? ['--check'] : []),
        file,
      ],
      env: {
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_LOCALHOST_WARNING: 'False',
        ANSIBLE_PIPELINING: 'True',
        ANSIBLE_RETRY_FILES_ENABLED: 'False',
      },
    };
  },
  judge(_step: Step, result: ExecResult): Verdict {
    const recap = /changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/.exec(result.stdout);
    const changed = recap ? Number(recap[1]) > 0 : null;
    const failed = recap ? Number(recap[2]) + Number(recap[3]) > 0 : true;
    return result.exitCode === 0 && !failed ? { ok: true, changed } : { ok: false, changed, detail: tail(result.stdout + result.stderr) };
  },
};

function playbook(w: Workload): unknown {
  const labels = { [LABEL_KEY]: LABEL_VALUE };
  return [
    {
      name: 'tscbench workload',
      hosts: 'localhost',
      gather_facts: false,
      vars: { containers: w.containers, volumes: w.volumes },
      tasks: [
        {
          name: 'network',
          'community.docker.docker_network': { name: w.network, driver: 'bridge', labels },
        },
        {
          name: 'volumes',
          'community.docker.docker_volume': { volume_name: '{{ item }}', labels },
          loop: '{{ volumes }}',
        },
        {
          name: 'containers',
          'community.docker.docker_container': {
            name: '{{ item.name }}',
            image: IMAGE,
            command: [...COMMAND],
            env: '{{ item.env }}',
            labels,
            restart_policy: RESTART,
            memory: '64M',
            networks: [{ name: w.network }],
            mounts: [{ type: 'volume', source: '{{ item.volume }}', target: MOUNT_TARGET }],
            stop_timeout: STOP_TIMEOUT,
            state: 'started',
          },
          loop: '{{ containers }}',
          loop_control: { label: '{{ item.name }}' },
        },
      ],
    },
  ];
}
