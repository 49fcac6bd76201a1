/**
 * file against a real temp root: the timeline, atomic replace, validate refusing a
 * change (old bytes kept, dependents skipped, the rest converges), exit codes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createSandbox, runCli, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
beforeAll(() => {
  sb = createSandbox('file');
});
afterAll(() => sb?.cleanup());

const fingerprint = (p: string): string => {
  const st = statSync(p);
  return `${readFileSync(p, 'hex')}|${st.mtimeMs}|${st.mode}`;
};

describe('file timeline', () => {
  it('apply -> changed; again -> nothing; drift -> noop reports, touches nothing; apply -> repaired', async () => {
    const m = sb.manifest(`
resources:
  - kind: file
    name: motd
    path: /etc/motd
    content: "welcome\\n"
    mode: "0640"
  - kind: file
    name: /srv/app
    ensure: directory
    mode: "0750"
`);
    const target = path.join(sb.root, 'etc/motd');
    const first = await runCli(['apply', m, '--root', sb.root, '--format', 'json']);
    expect(first.code, first.stderr).toBe(2);
    expect(readFileSync(target, 'utf8')).toBe('welcome\n');
    expect((statSync(target).mode & 0o777).toString(8)).toBe('640');
    expect(statSync(path.join(sb.root, 'srv/app')).isDirectory()).toBe(true);

    expect((await runCli(['apply', m, '--root', sb.root])).code).toBe(0);

    writeFileSync(target, 'hacked\n');
    const before = fingerprint(target);
    const noop = await runCli(['apply', m, '--root', sb.root, '--noop', '--format', 'json']);
    expect(noop.code).toBe(2);
    expect(noop.json.resources[0]).toMatchObject({ id: 'file[motd]', action: 'update', status: 'pending' });
    expect(noop.json.resources[0].changes[0].attribute).toBe('content');
    expect(fingerprint(target)).toBe(before);

    const repair = await runCli(['apply', m, '--root', sb.root]);
    expect(repair.code).toBe(2);
    expect(readFileSync(target, 'utf8')).toBe('welcome\n');
    // Atomic replace leaves no temp files behind.
    expect(readdirSync(path.dirname(target)).filter((f) => f.includes('tsconverge-'))).toEqual([]);
  });

  it('a refused validate keeps the old bytes, skips dependents, converges the rest, exits 6', async () => {
    const m = sb.manifest(`
resources:
  - kind: file
    name: conf
    path: /etc/app.conf
    content: "ok=1\\n"
    validate: "grep -q ^ok= %s"
  - kind: file
    name: after-conf
    path: /etc/after.conf
    content: "depends\\n"
    require: file[conf]
  - kind: file
    name: unrelated
    path: /etc/unrelated.conf
    content: "fine\\n"
`);
    expect((await runCli(['apply', m, '--root', sb.root])).code).toBe(2);
    const conf = path.join(sb.root, 'etc/app.conf');
    const before = fingerprint(conf);
    sb.manifest(
      readFileSync(m, 'utf8').replace('content: "ok=1\\n"', 'content: "broken\\n"').replace('"depends\\n"', '"depends2\\n"').replace('"fine\\n"', '"fine2\\n"'),
    );
    const res = await runCli(['apply', m, '--root', sb.root, '--format', 'json']);
    expect(res.code).toBe(6);
    const byId = Object.fromEntries(res.json.resources.map((r: any) => [r.id, r]));
    expect(byId['file[conf]']).toMatchObject({ status: 'failed', error: { code: 'FILE_VALIDATE_FAILED' } });
    expect(byId['file[after-conf]']).toMatchObject({ status: 'skipped', error: { code: 'DEPENDENCY_FAILED' } });
    expect(byId['file[unrelated]'].status).toBe('changed');
    expect(fingerprint(conf)).toBe(before);
    expect(readFileSync(path.join(sb.root, 'etc/after.conf'), 'utf8')).toBe('depends\n');
    expect(readFileSync(path.join(sb.root, 'etc/unrelated.conf'), 'utf8')).toBe('fine2\n');
  });

  it('exit 1: bad input changes nothing', async () => {
    const m = sb.write('bad/manifest.yaml', 'resources:\n  - kind: file\n    name: /etc/new\n    content: x\n    mood: happy\n');
    const res = await runCli(['apply', m, '--root', sb.root]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`${m}:5:5`);
    expect(res.stderr).toContain('unknown field "mood"');
    expect(existsSync(path.join(sb.root, 'etc/new'))).toBe(false);
    expect((await runCli(['apply', path.join(sb.dir, 'missing.yaml')])).code).toBe(1);
    expect((await runCli(['validate', m, '--format', 'json'])).json.errors[0]).toMatchObject({
      code: 'MANIFEST_INVALID',
      location: { line: 5, column: 5, pointer: '/resources/0/mood' },
    });
  });

  it('an unreachable engine fails the docker resources with one clear error and never hangs; files still converge (exit 6)', async () => {
    const m = sb.write(
      'mixed/manifest.yaml',
      `
resources:
  - kind: file
    name: /etc/mixed.conf
    content: "x\\n"
  - kind: docker.network
    name: ${sb.prefix}-never
  - kind: docker.container
    name: ${sb.prefix}-never
    image: local/busybox:1
`,
    );
    const started = Date.now();
    const res = await runCli(['apply', m, '--root', sb.root, '--format', 'json'], { DOCKER_HOST: `unix://${sb.root}/no-such.sock` });
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(res.code).toBe(6);
    const byId = Object.fromEntries(res.json.resources.map((r: any) => [r.id, r]));
    expect(byId['file[/etc/mixed.conf]'].status).toBe('changed');
    expect(byId[`docker.container[${sb.prefix}-never]`].error.code).toBe('DOCKER_UNREACHABLE');
    expect(byId[`docker.container[${sb.prefix}-never]`].error.message).toContain('no-such.sock');
    expect(byId[`docker.network[${sb.prefix}-never]`].status).toBe('failed');
    // Now the file is converged: only failures remain.
    expect((await runCli(['apply', m, '--root', sb.root], { DOCKER_HOST: `unix://${sb.root}/no-such.sock` })).code).toBe(4);
  });

  it('sensitive content never appears in plans, reports or logs', async () => {
    const m = sb.write(
      'secret/manifest.yaml',
      'resources:\n  - kind: file\n    name: /etc/token\n    content: "s3cr3t-value-123"\n    sensitive: true\n    mode: "0600"\n',
    );
    for (const args of [
      ['plan', m, '--root', sb.root],
      ['apply', m, '--root', sb.root, '--format', 'json', '--log-level', 'debug'],
    ]) {
      const res = await runCli(args);
      expect(res.stdout + res.stderr).not.toContain('s3cr3t');
    }
    writeFileSync(path.join(sb.root, 'etc/token'), 'old-s3cr3t');
    const plan = await runCli(['plan', m, '--root', sb.root]);
    expect(plan.stdout).toContain('content: (sensitive content changed)');
    expect(plan.stdout + plan.stderr).not.toContain('s3cr3t');
  });
});
