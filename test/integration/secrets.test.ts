/**
 * Secrets end to end against the real engine: a fleet tree whose webapp stack gets its
 * database password from a secret file (mode 0600) and then from the environment.
 * Every output of compile, plan, apply and explain (stdout, stderr, JSON reports, JSON
 * logs at debug level) and every process's /proc/PID/cmdline, sampled while the CLI
 * runs, is searched for the plaintext. The container must still receive it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { whileSampling } from '../support/proc.js';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createSandbox, docker, requireDocker, runCli, type CliResult, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
let fleet: string;
let secretsDir: string;
const FIRST = `tsc-leak-${randomBytes(8).toString('hex')}`;
const SECOND = `tsc-leak-${randomBytes(8).toString('hex')}`;
const CONTROL = `tsc-control-${randomBytes(8).toString('hex')}`;
const cmdlineHits: string[] = [];
const controlHits: string[] = [];
let samples = 0;

/** Run `work` while sampling /proc/*\/cmdline for the plaintexts (and the control token). */
async function sampling<T>(work: () => Promise<T>): Promise<T> {
  const { result, sweeps } = await whileSampling((pid, _file, cmd) => {
    if (cmd.includes(FIRST) || cmd.includes(SECOND)) cmdlineHits.push(`${pid}: ${cmd.replace(/\0/g, ' ')}`);
    if (cmd.includes(CONTROL)) controlHits.push(pid);
  }, work);
  samples += sweeps;
  return result;
}

function sampled(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return sampling(() => runCli(args, env));
}

function expectNoPlaintext(r: CliResult): void {
  for (const secret of [FIRST, SECOND]) {
    expect(r.stdout, 'stdout holds the secret').not.toContain(secret);
    expect(r.stderr, 'stderr holds the secret').not.toContain(secret);
  }
}

beforeAll(() => {
  requireDocker();
  sb = createSandbox('secrets');
  fleet = path.join(sb.dir, 'fleet');
  secretsDir = path.join(sb.dir, 'secrets');
  mkdirSync(secretsDir, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(secretsDir, 'db_password'), FIRST + '\n');
  chmodSync(path.join(secretsDir, 'db_password'), 0o600);
  sb.write('fleet/environments/test/manifests/site.yaml', 'roles:\n  app: { modules: [webapp] }\nnodes:\n  - name: node-1\n    role: app\n');
  sb.write(
    'fleet/data/common.yaml',
    [
      'webapp:',
      `  name: ${sb.prefix}`,
      '  db_password: !secret db_password',
      `  config_dir: /srv/${sb.prefix}`,
      `  labels: { tsconverge-test: ${sb.id} }`,
      '',
    ].join('\n'),
  );
});
afterAll(() => sb?.cleanup());

describe('secrets are sensitive end to end', () => {
  const common = () => ['--node', 'node-1', '--secrets-dir', secretsDir];
  const run = () => [...common(), '--root', sb.root, '--log-format', 'json', '--log-level', 'debug'];

  it('compile, plan, apply, apply again, change the secret, explain: no plaintext anywhere', async () => {
    const compiled = await sampled(['compile', fleet, ...common()]);
    expect(compiled.code, compiled.stderr).toBe(0);
    expect(JSON.parse(compiled.stdout).resources.find((r: { id: string }) => r.id === `docker.container[${sb.prefix}-app]`).attrs.environment.DB_PASSWORD).toBe(
      '(sensitive)',
    );
    expectNoPlaintext(compiled);

    const plan = await sampled(['plan', fleet, ...run(), '--format', 'json']);
    expect(plan.code, plan.stderr).toBe(2);
    const app = plan.json.resources.find((r: { id: string }) => r.id === `docker.container[${sb.prefix}-app]`);
    expect(app.action).toBe('create');
    expect(app.changes.find((c: { path: string }) => c.path === '/environment').to.DB_PASSWORD).toBe('(sensitive)');
    expectNoPlaintext(plan);

    const apply = await sampled(['apply', fleet, ...run(), '--format', 'json']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(2);
    expect(apply.json.summary.failed).toBe(0);
    expectNoPlaintext(apply);
    // The value did reach the containers.
    expect(docker('inspect', '--format', '{{json .Config.Env}}', `${sb.prefix}-app`)).toContain(`DB_PASSWORD=${FIRST}`);
    expect(docker('inspect', '--format', '{{json .Config.Env}}', `${sb.prefix}-db`)).toContain(`DB_PASSWORD=${FIRST}`);
    expect(existsSync(path.join(sb.root, 'srv', sb.prefix, 'app.conf'))).toBe(true);

    const again = await sampled(['apply', fleet, ...run()]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expectNoPlaintext(again);

    // The environment variable wins over the file: the secret changes.
    const env = { TSCONVERGE_SECRET_DB_PASSWORD: SECOND };
    const changedPlan = await sampled(['plan', fleet, ...common(), '--root', sb.root], env);
    expect(changedPlan.code, changedPlan.stderr).toBe(2);
    expect(changedPlan.stdout).toContain('environment.DB_PASSWORD: "(sensitive)" -> "(sensitive)"');
    expectNoPlaintext(changedPlan);
    const changed = await sampled(['apply', fleet, ...run(), '--format', 'json'], env);
    expect(changed.code, changed.stdout + changed.stderr).toBe(2);
    expectNoPlaintext(changed);
    expect(docker('inspect', '--format', '{{json .Config.Env}}', `${sb.prefix}-app`)).toContain(`DB_PASSWORD=${SECOND}`);

    const explained = await sampled(['explain', `docker.container[${sb.prefix}-app].environment.DB_PASSWORD`, fleet, ...common(), '--format', 'json'], env);
    expect(explained.code, explained.stderr).toBe(0);
    expect(explained.json.value).toBe('(sensitive)');
    expectNoPlaintext(explained);

    expect(samples).toBeGreaterThan(10);
    expect(cmdlineHits).toEqual([]);
  });

  it('control: the sampler does see a short-lived process argument', async () => {
    await sampling(
      () =>
        new Promise<void>((resolve) => {
          spawn(process.execPath, ['-e', 'setTimeout(() => {}, 300)', CONTROL], { stdio: 'ignore' }).on('close', () => resolve());
        }),
    );
    expect(controlHits.length).toBeGreaterThan(0);
  });

  it('bad input on a fleet tree: exit 1, a clear error, nothing applied', async () => {
    const bad = path.join(sb.dir, 'bad-fleet');
    mkdirSync(path.join(bad, 'environments/test/manifests'), { recursive: true });
    mkdirSync(path.join(bad, 'data'), { recursive: true });
    writeFileSync(path.join(bad, 'environments/test/manifests/site.yaml'), 'roles:\n  app: { modules: [webapp] }\nnodes:\n  - name: node-1\n    role: app\n');
    writeFileSync(
      path.join(bad, 'data/common.yaml'),
      `webapp:\n  name: ${sb.prefix}-bad\n  db_password: !secret missing_one\n  labels: { tsconverge-test: ${sb.id} }\n`,
    );
    const root = path.join(sb.dir, 'bad-root');
    mkdirSync(root);
    const r = await runCli(['apply', bad, '--node', 'node-1', '--secrets-dir', secretsDir, '--root', root]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/common\.yaml:3:3 .*secret "missing_one" is not set/);
    expect(readdirSync(root)).toEqual([]);
    expect(docker('ps', '-aq', '--filter', `name=${sb.prefix}-bad`)).toBe('');
  });

  it('a secret file readable by others is refused', async () => {
    chmodSync(path.join(secretsDir, 'db_password'), 0o644);
    try {
      const r = await runCli(['compile', fleet, '--node', 'node-1', '--secrets-dir', secretsDir]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('has mode 0644; a secret file must be readable by its owner only');
      expectNoPlaintext(r);
    } finally {
      chmodSync(path.join(secretsDir, 'db_password'), 0o600);
    }
  });
});
