/**
 * Rollout test support (test/integration/rollout*.test.ts): a fleet tree whose nodes i30-*
 * get module app (a motd, and /etc/i30-app/config when `config` is set), with a rollout.yaml.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { jsonOf, request, type ClientTls } from '../../src/server/client.js';
import type { RolloutStatus } from '../../src/server/rollout.js';

export function writeRolloutFleet(fleet: string, message: string, config: string, rolloutYaml: string): void {
  const w = (f: string, text: string): void => {
    mkdirSync(path.dirname(path.join(fleet, f)), { recursive: true });
    writeFileSync(path.join(fleet, f), text);
  };
  w('environments/production/manifests/site.yaml', 'roles:\n  box:\n    modules: [app]\nnodes:\n  - glob: "i30-*"\n    role: box\n');
  w(
    'modules/app/module.yaml',
    [
      'description: A message of the day, and a config file when config is set.',
      'parameters:',
      '  message: { type: string, description: The text }',
      '  config: { type: string, default: "", description: "The config file\'s text; written to /etc/i30-app/config when set" }',
      'resources:',
      '  - kind: file',
      '    name: motd',
      '    path: /etc/motd',
      '    content: "{{params.message}}\\n"',
      '  - kind: file',
      '    name: config',
      '    when: "{{params.config}}"',
      '    path: /etc/i30-app/config',
      '    content: "{{params.config}}\\n"',
      '',
    ].join('\n'),
  );
  w('data/common.yaml', `app:\n  message: ${JSON.stringify(message)}\n  config: ${JSON.stringify(config)}\n`);
  w('rollout.yaml', rolloutYaml);
}

/** GET /v1/rollout with an operator certificate. */
export async function rolloutStatus(url: string, tls: ClientTls): Promise<RolloutStatus> {
  const a = await request(url, 'v1/rollout', tls, { timeoutMs: 20_000 });
  if (a.status !== 200) throw new Error(`GET /v1/rollout answered ${a.status}: ${a.body.toString()}`);
  return jsonOf<RolloutStatus>(a);
}

/** Poll the rollout (never a sleep) until `pred` holds. */
export async function untilRollout(what: string, url: string, tls: ClientTls, pred: (s: RolloutStatus) => boolean, timeoutMs = 60_000): Promise<RolloutStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await rolloutStatus(url, tls);
    if (pred(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify({ ...s, audit: s.audit.slice(0, 5) })}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
