/**
 * examples/host-baseline through the real CLI, as the README's quickstart flow runs it:
 * plan, apply, apply again (nothing), against a temp root, with every run inside one
 * throwaway network namespace so the example's net.* sysctls never touch this machine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, cli, fingerprint, tempRoot } from './hostio.testkit.js';

const ns = `tsc-example-${randomBytes(3).toString('hex')}`;
const prefix = ['ip', 'netns', 'exec', ns];
const manifest = path.join(REPO, 'examples/host-baseline/manifest.yaml');
let t: ReturnType<typeof tempRoot>;
beforeAll(() => {
  execFileSync('ip', ['netns', 'add', ns]);
  t = tempRoot('host-baseline');
});
afterAll(() => {
  try {
    execFileSync('ip', ['netns', 'delete', ns]);
  } finally {
    t?.cleanup();
  }
});

describe('examples/host-baseline', () => {
  const files = [
    'etc/resolv.conf',
    'etc/hosts',
    'etc/chrony/chrony.conf',
    'etc/logrotate.d/app',
    'etc/rsyslog.d/90-tsconverge-central.conf',
    'etc/sysctl.d/90-tsconverge.conf',
    'etc/docker/daemon.json',
  ];

  it('validates with its systemd services', async () => {
    const run = await cli(['validate', path.dirname(manifest)]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
  });

  it('plans, applies, then has nothing left to do', async () => {
    const root = t.root;
    const plan = await cli(['plan', manifest, '--root', root], { prefix });
    expect(plan.code, plan.stdout + plan.stderr).toBe(2);
    expect(
      fingerprint(root, files)
        .split('\n')
        .every((l) => l.endsWith(': absent')),
    ).toBe(true);

    const apply = await cli(['apply', manifest, '--root', root, '--format', 'json'], { prefix });
    expect(apply.code, apply.stdout + apply.stderr).toBe(2);
    expect(apply.json.summary).toMatchObject({ total: 8, changed: 8, failed: 0 });
    for (const f of files) expect(readFileSync(path.join(root, f), 'utf8').length).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(path.join(root, 'etc/docker/daemon.json'), 'utf8'))).toMatchObject({
      'log-driver': 'json-file',
      'log-opts': { 'max-size': '10m', 'max-file': '3' },
    });
    expect(execFileSync('ip', [...prefix.slice(1), 'cat', '/proc/sys/net/core/somaxconn'], { encoding: 'utf8' }).trim()).toBe('8192');

    const converged = fingerprint(root, files);
    const again = await cli(['apply', manifest, '--root', root], { prefix });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(fingerprint(root, files)).toBe(converged);
  });
});
