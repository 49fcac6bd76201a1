/**
 * docker.image built from a context (issue 28) on the real engine, FROM the local busybox
 * build: apply builds (and the container using it is created), again nothing, noop with a
 * changed file builds nothing and names the file, apply builds again and replaces the
 * container, a .dockerignore'd file changes nothing; a secret among the build args is
 * refused before anything is built; import compose turns build: into this and converges.
 * Names start with i28-; images and containers are removed afterwards.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, docker, dockerSnapshot, REPO, requireDocker, runCli, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
let p: string;
let ctxDir: string;
const images: string[] = [];
beforeAll(() => {
  requireDocker();
  sb = createSandbox('i28build');
  p = `i28-${sb.id}`;
  ctxDir = path.join(sb.dir, 'ctx');
  mkdirSync(ctxDir, { recursive: true });
  writeFileSync(
    path.join(ctxDir, 'Dockerfile'),
    'FROM local/busybox:1\nARG GREETING=none\nCOPY app.txt /app.txt\nRUN echo "$GREETING" > /greeting\nCMD ["sleep", "100000"]\n',
  );
  writeFileSync(path.join(ctxDir, 'app.txt'), 'version one\n');
  writeFileSync(path.join(ctxDir, 'notes.md'), 'not sent\n');
  writeFileSync(path.join(ctxDir, '.dockerignore'), 'notes.md\n');
});
afterAll(() => {
  try {
    const cs = docker('ps', '-aq', '--filter', `name=${p}`).split('\n').filter(Boolean);
    if (cs.length) docker('rm', '-f', ...cs);
    for (const n of docker('network', 'ls', '-q', '--filter', `name=${p}`).split('\n').filter(Boolean)) {
      try {
        docker('network', 'rm', n);
      } catch {
        /* in use */
      }
    }
    const tags = docker('images', '--format', '{{.Repository}}:{{.Tag}}')
      .split('\n')
      .filter((t) => t.startsWith(p) || images.some((i) => t.startsWith(i)));
    if (tags.length) docker('rmi', '-f', ...tags);
  } finally {
    sb?.cleanup();
  }
});

const manifest = (): string =>
  sb.manifest(`
resources:
  - kind: docker.image
    name: ${p}/app:1
    build:
      context: ${ctxDir}
      args: { GREETING: hello }
      network: none
  - kind: docker.container
    name: ${p}-app
    image: ${p}/app:1
    networkMode: none
    labels: { tsconverge-test: ${sb.id} }
    stopTimeout: 1
`);

const tags = (): string[] => docker('images', '--format', '{{.Repository}}:{{.Tag}}', `${p}/app`).split('\n').filter(Boolean).sort();

describe('docker.image build timeline', () => {
  it('apply builds; again nothing; a changed file: noop builds nothing and names it, apply builds and replaces', async () => {
    images.push(`${p}/app`);
    const m = manifest();
    const first = await runCli(['apply', m, '--format', 'json']);
    expect(first.code, first.stdout + first.stderr).toBe(2);
    expect(first.json.summary).toMatchObject({ changed: 2, failed: 0 });
    expect(first.stderr).toContain(`building ${p}/app:1`);
    const t1 = tags();
    expect(t1).toHaveLength(2);
    expect(t1).toContain(`${p}/app:1`);
    expect(t1.find((t) => t !== `${p}/app:1`)).toMatch(new RegExp(`^${p}/app:tsc-[0-9a-f]{12}$`));
    expect(docker('exec', `${p}-app`, 'cat', '/app.txt', '/greeting')).toBe('version one\nhello');
    expect(docker('exec', `${p}-app`, 'ls', '/')).not.toContain('notes.md');
    const id1 = docker('inspect', '--format', '{{.Id}}', `${p}-app`);
    const img1 = docker('image', 'inspect', '--format', '{{.Id}}', `${p}/app:1`);

    const again = await runCli(['apply', m, '--format', 'json']);
    expect(again.code, again.stdout).toBe(0);
    expect(docker('image', 'inspect', '--format', '{{.Id}}', `${p}/app:1`)).toBe(img1);

    // An ignored file changes nothing.
    writeFileSync(path.join(ctxDir, 'notes.md'), 'still not sent\n');
    expect((await runCli(['plan', m])).code).toBe(0);

    // A changed file: noop names it and builds nothing.
    writeFileSync(path.join(ctxDir, 'app.txt'), 'version two\n');
    const before = dockerSnapshot(`tsconverge-test=${sb.id}`);
    const noop = await runCli(['apply', m, '--noop']);
    expect(noop.code).toBe(2);
    expect(noop.stdout).toContain(`-/+ docker.image[${p}/app:1] (replace: forced by build)`);
    expect(noop.stdout).toMatch(/build\.context: +# forces replacement\n +- app\.txt: "[0-9a-f]{12}"\n +\+ app\.txt: "[0-9a-f]{12}"\n/); // the plan names the changed file
    expect(noop.stdout).toContain(`-/+ docker.container[${p}-app] (replace: forced by image, when docker.image[${p}/app:1] is pulled or built)`);
    expect(tags()).toEqual(t1);
    expect(dockerSnapshot(`tsconverge-test=${sb.id}`)).toBe(before);

    const rebuild = await runCli(['apply', m, '--format', 'json']);
    expect(rebuild.code, rebuild.stdout + rebuild.stderr).toBe(2);
    expect(rebuild.json.summary).toMatchObject({ changed: 2, failed: 0 });
    expect(docker('image', 'inspect', '--format', '{{.Id}}', `${p}/app:1`)).not.toBe(img1);
    expect(docker('inspect', '--format', '{{.Id}}', `${p}-app`)).not.toBe(id1);
    expect(docker('exec', `${p}-app`, 'cat', '/app.txt')).toBe('version two');
    const t2 = tags();
    expect(t2).toHaveLength(3); // name, this build's hash tag, and the first build's hash tag (kept: going back costs no build)
    expect(t2).toEqual(expect.arrayContaining(t1));
    expect((await runCli(['plan', m])).code).toBe(0);

    // Back to the first content: that build is tagged again, nothing is built.
    writeFileSync(path.join(ctxDir, 'app.txt'), 'version one\n');
    const back = await runCli(['apply', m]);
    expect(back.code, back.stdout + back.stderr).toBe(2);
    expect(back.stderr).not.toContain('building');
    expect(docker('image', 'inspect', '--format', '{{.Id}}', `${p}/app:1`)).toBe(img1);
    expect(docker('exec', `${p}-app`, 'cat', '/app.txt')).toBe('version one');
    expect((await runCli(['plan', m])).code).toBe(0);
  }, 240_000);
});

describe('import compose: build: becomes a docker.image built here', () => {
  it('imports, applies (builds), plans clean; noop after a change builds nothing', async () => {
    const project = `${p}-stack`;
    images.push(`${project}_web`, 'buildstack/worker');
    const out = sb.write('stack.yaml', '');
    const fixture = path.join(REPO, 'test/fixtures/compose/build-stack/compose.yaml');
    const imp = await runCli(['import', 'compose', fixture, '-p', project, '-o', out]);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stderr).not.toContain('build cannot be expressed');
    const m = parse(readFileSync(out, 'utf8')) as { resources: Record<string, any>[] };
    const web = m.resources.find((r) => r.kind === 'docker.image' && r.name === `${project}_web`);
    expect(web).toEqual({
      kind: 'docker.image',
      name: `${project}_web`,
      build: { context: path.join(REPO, 'test/fixtures/compose/build-stack/web'), target: 'runtime', args: { GREETING: 'hello' }, network: 'none' },
    });
    expect(m.resources.find((r) => r.name === `${project}_worker_1`)).toMatchObject({ image: 'buildstack/worker:dev' });
    const apply = await runCli(['apply', out, '--format', 'json']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(2);
    expect(apply.json.summary.failed).toBe(0);
    expect(docker('exec', `${project}_web_1`, 'cat', '/www/index.html')).toContain('built by tsconverge');
    expect(docker('exec', `${project}_web_1`, 'sh', '-c', 'echo $GREETING')).toBe('hello');
    const clean = await runCli(['plan', out]);
    expect(clean.code, clean.stdout).toBe(0);
    const noop = await runCli(['apply', out, '--noop']);
    expect(noop.code).toBe(0);
  }, 180_000);
});

describe('build args are in the image history: a secret among them is refused', () => {
  it('a fleet whose build arg is a !secret builds nothing and names the arg, not the value', async () => {
    const secret = `i28-secret-${randomBytes(6).toString('hex')}`;
    const fleet = path.join(sb.dir, 'fleet');
    const secrets = path.join(sb.dir, 'secrets');
    mkdirSync(secrets, { recursive: true, mode: 0o700 });
    writeFileSync(path.join(secrets, 'build_token'), secret + '\n');
    chmodSync(path.join(secrets, 'build_token'), 0o600);
    sb.write('fleet/environments/test/manifests/site.yaml', 'roles:\n  app: { modules: [i28build] }\nnodes:\n  - name: node-1\n    role: app\n');
    sb.write(
      'fleet/modules/i28build/module.yaml',
      [
        'description: an image built with a token',
        'parameters:',
        '  name: { type: string, description: image name }',
        '  context: { type: string, description: build context }',
        '  token: { type: string, description: a token for the build }',
        'resources:',
        '  - kind: docker.image',
        '    name: "{{params.name}}"',
        '    build:',
        '      context: "{{params.context}}"',
        '      args: { TOKEN: "{{params.token}}" }',
        '',
      ].join('\n'),
    );
    sb.write('fleet/data/common.yaml', `i28build:\n  name: ${p}/secret:1\n  context: ${ctxDir}\n  token: !secret build_token\n`);
    images.push(`${p}/secret`);
    const r = await runCli(['apply', fleet, '--node', 'node-1', '--secrets-dir', secrets]);
    expect(r.code, r.stdout + r.stderr).toBe(4);
    expect(r.stdout + r.stderr).toContain('build args TOKEN hold a secret');
    expect(r.stdout + r.stderr).not.toContain(secret);
    expect(docker('images', '-q', `${p}/secret`)).toBe('');
  }, 120_000);
});
