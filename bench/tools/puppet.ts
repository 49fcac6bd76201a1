/**
 * puppet apply with exec resources guarded by docker CLI checks, the way the
 * puppetlabs-docker module works inside (docker::run is exec + guards). A guard
 * script inspects one container and says whether it exists and matches.
 * Dry run: `--noop`.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { output, tail, type Command, type ExecResult } from '../exec.js';
import { IMAGE, LABEL_KEY, LABEL_VALUE, MEMORY_BYTES, RESTART, STOP_TIMEOUT, dockerRunArgs, type ContainerSpec, type Workload } from '../workload.js';
import type { Probe, Step, Tool, Verdict } from './types.js';

export const puppet: Tool = {
  name: 'puppet',
  slow: true,
  unsupported: (): undefined => undefined,
  async probe(): Promise<Probe> {
    try {
      return { available: true, version: `puppet ${(await output(['puppet', '--version'])).trim()}` };
    } catch (err) {
      return { available: false, reason: `puppet not runnable (run bench/setup.sh): ${String(err)}` };
    }
  },
  async prepare(step: Step, dir: string): Promise<Command> {
    mkdirSync(dir, { recursive: true });
    const guard = join(dir, 'guard.sh');
    writeFileSync(guard, GUARD);
    chmodSync(guard, 0o755);
    const file = join(dir, 'site.pp');
    writeFileSync(file, manifest(step.workload, guard));
    return {
      argv: ['puppet', 'apply', '--detailed-exitcodes', '--color=false', ...(step.scenario === 'S4' ? ['--noop'] : []), file],
    };
  },
  judge(step: Step, result: ExecResult): Verdict {
    // --detailed-exitcodes: 0 no changes, 2 changes, 4 failures, 6 both.
    const failed = (result.exitCode & 4) !== 0 || ![0, 2, 4, 6].includes(result.exitCode);
    const changed = step.scenario === 'S4' ? /\(noop\)/.test(result.stdout) : (result.exitCode & 2) !== 0;
    return failed ? { ok: false, changed, detail: tail(result.stdout + result.stderr) } : { ok: true, changed };
  },
};

/**
 * guard.sh present NAME        -> 0 when the container exists
 * guard.sh stale NAME K=V ...  -> 0 when it exists but differs from the declared
 *                                 image, memory, restart policy or environment
 */
const GUARD = `#!/bin/sh
mode=$1; name=$2; shift 2
out=$(docker inspect --type container -f '{{.Config.Image}}|{{.HostConfig.Memory}}|{{.HostConfig.RestartPolicy.Name}}|;{{range .Config.Env}}{{.}};{{end}}' "$name" 2>/dev/null) || exit 1
[ "$mode" = present ] && exit 0
case "$out" in '${IMAGE}|${MEMORY_BYTES}|${RESTART}|'*) ;; *) exit 0 ;; esac
for kv in "$@"; do case "$out" in *";$kv;"*) ;; *) exit 0 ;; esac; done
exit 1
`;

function manifest(w: Workload, guard: string): string {
  const label = `${LABEL_KEY}=${LABEL_VALUE}`;
  const path = "['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin']";
  const out: string[] = [
    `Exec { path => ${path} }`,
    `exec { 'network ${w.network}':`,
    `  command => 'docker network create --driver bridge --label ${label} ${w.network}',`,
    `  unless  => 'docker network inspect ${w.network}',`,
    '}',
  ];
  for (const v of w.volumes) {
    out.push(`exec { 'volume ${v}':`, `  command => 'docker volume create --label ${label} ${v}',`, `  unless  => 'docker volume inspect ${v}',`, '}');
  }
  for (const c of w.containers) out.push(...containerExecs(w, c, guard));
  return `${out.join('\n')}\n`;
}

function containerExecs(w: Workload, c: ContainerSpec, guard: string): string[] {
  const env = Object.entries(c.env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return [
    `exec { 'remove stale ${c.name}':`,
    `  command => 'docker stop -t ${STOP_TIMEOUT} ${c.name} && docker rm ${c.name}',`,
    `  onlyif  => '${guard} stale ${c.name} ${env}',`,
    '  provider => shell,',
    '}',
    `exec { 'run ${c.name}':`,
    `  command => 'docker run -d ${dockerRunArgs(w, c).join(' ')}',`,
    `  unless  => '${guard} present ${c.name}',`,
    `  require => [Exec['remove stale ${c.name}'], Exec['network ${w.network}'], Exec['volume ${c.volume}']],`,
    '}',
  ];
}
