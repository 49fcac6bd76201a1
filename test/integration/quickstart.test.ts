/**
 * The bundled examples: every one validates and compiles; the quickstart converges a
 * real web container (plan, apply, apply again changes nothing), and a template change
 * reaches the running service through the automatic notify (container restarted).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { containerInfo, createSandbox, dockerSnapshot, REPO, requireDocker, runCli, freePort, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
beforeAll(() => {
  requireDocker();
  sb = createSandbox('qs');
});
afterAll(() => sb?.cleanup());

// Every example that holds manifests (examples/push holds only the walk-through's sshd script).
const hasYaml = (dir: string): boolean =>
  readdirSync(dir, { withFileTypes: true }).some((e) => (e.isDirectory() ? hasYaml(path.join(dir, e.name)) : /\.ya?ml$/.test(e.name)));
const examples = readdirSync(path.join(REPO, 'examples')).filter((d) => existsSync(path.join(REPO, 'examples', d)) && hasYaml(path.join(REPO, 'examples', d)));

describe('examples', () => {
  it.each(examples)('examples/%s validates and compiles', async (name) => {
    const res = await runCli(['validate', path.join(REPO, 'examples', name)]);
    expect(res.code, res.stderr).toBe(0);
  });
});

describe('quickstart', () => {
  it('plan, apply, apply again; a template change restarts the container and is served', async () => {
    const dir = path.join(sb.dir, 'quickstart');
    cpSync(path.join(REPO, 'examples/quickstart'), dir, { recursive: true });
    const port = await freePort();
    const file = path.join(dir, 'manifest.yaml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8')
        .replace(/quickstart-web|quickstart-data|name: quickstart\b|name: quickstart$/gm, (s) => s.replace('quickstart', sb.prefix))
        .replace(/app: quickstart/g, `app: quickstart, tsconverge-test: ${sb.id}`)
        .replace('127.0.0.1:18080:80', `127.0.0.1:${port}:80`)
        .replace('source: quickstart-data', `source: ${sb.prefix}-data`),
    );
    const plan = await runCli(['plan', dir, '--root', sb.root]);
    expect(plan.code, plan.stderr).toBe(2);
    expect(plan.stdout).toMatch(/Plan: 5 to create/);
    const snapshot = dockerSnapshot(`tsconverge-test=${sb.id}`);
    expect(existsSync(path.join(sb.root, 'srv'))).toBe(false);
    expect(snapshot).not.toContain(sb.prefix);

    const apply = await runCli(['apply', dir, '--root', sb.root]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(2);
    const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    expect(body).toContain('Hello from tsconverge');
    expect((await runCli(['apply', dir, '--root', sb.root])).code).toBe(0);

    const before = containerInfo(`${sb.prefix}-web`);
    writeFileSync(file, readFileSync(file, 'utf8').replace('greeting: Hello from tsconverge', 'greeting: Changed by a template'));
    const noop = await runCli(['plan', dir, '--root', sb.root]);
    expect(noop.stdout).toContain(`~ docker.container[${sb.prefix}-web] (restart: notified by a change)`);
    const res = await runCli(['apply', dir, '--root', sb.root, '--format', 'json']);
    expect(res.code).toBe(2);
    const web = res.json.resources.find((r: any) => r.id === `docker.container[${sb.prefix}-web]`);
    expect(web).toMatchObject({ status: 'changed', refresh: true });
    const after = containerInfo(`${sb.prefix}-web`);
    expect(after.id).toBe(before.id);
    expect(after.startedAt).not.toBe(before.startedAt);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toContain('Changed by a template');
    expect((await runCli(['apply', dir, '--root', sb.root])).code).toBe(0);
  });
});
