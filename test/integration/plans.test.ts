/**
 * Plans an operator can trust (issue 12), against the real engine, registry and files:
 * diffs of file content, in-place container changes, consequences of a replace, the
 * health-gated swap, stateful containers held, owed restarts that survive a failed
 * run, and registry digests in a dry run without a pull.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { containerInfo, createSandbox, docker, REGISTRY, requireDocker, runCli, freePort, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
beforeAll(() => {
  requireDocker();
  sb = createSandbox('hl-plans');
});
const stateDir = (): string => path.join(sb.root, 'state');
afterAll(() => sb?.cleanup());

describe('file diffs in the plan and the JSON report', () => {
  it('shows a unified diff for text, size and hash for binary, never sensitive bytes', async () => {
    const page = (title: string): string =>
      `<html>\n<head><title>${title}</title></head>\n<body>\n<h1>Welcome</h1>\n<p>served by busybox</p>\n</body>\n</html>\n`;
    mkdirSync(path.join(sb.root, 'srv/www'), { recursive: true });
    mkdirSync(path.join(sb.root, 'etc'), { recursive: true });
    writeFileSync(path.join(sb.root, 'srv/www/index.html'), page('Old title'));
    writeFileSync(path.join(sb.root, 'srv/www/logo.bin'), Buffer.from([0, 1, 2, 3]));
    writeFileSync(path.join(sb.root, 'etc/app.secret'), 'password=hunter2\n');
    const m = sb.manifest(`
resources:
  - kind: file
    name: /srv/www/index.html
    content: ${JSON.stringify(page('New title'))}
  - kind: file
    name: /srv/www/logo.bin
    content: "not binary any more\\n"
  - kind: file
    name: /etc/app.secret
    content: "password=correct-horse\\n"
    sensitive: true
`);
    const human = await runCli(['plan', m, '--root', sb.root]);
    expect(human.code, human.stderr).toBe(2);
    expect(human.stdout).toContain(
      [
        '  ~ file[/srv/www/index.html]',
        '      content:   # in place',
        '        @@ -1,5 +1,5 @@',
        '         <html>',
        '        -<head><title>Old title</title></head>',
        '        +<head><title>New title</title></head>',
        '         <body>',
      ].join('\n'),
    );
    expect(human.stdout).toMatch(/content: \(binary\) "sha256:[0-9a-f]{16} \(4 bytes\)" -> "sha256:[0-9a-f]{16} \(20 bytes\)"/);
    expect(human.stdout).toContain('content: (sensitive content changed)');
    expect(human.stdout + human.stderr).not.toMatch(/hunter2|correct-horse/);

    const json = await runCli(['plan', m, '--root', sb.root, '--format', 'json']);
    const byId = new Map((json.json.resources as { id: string; changes: { diff?: string; binary?: boolean }[] }[]).map((r) => [r.id, r]));
    expect(byId.get('file[/srv/www/index.html]')!.changes[0]!.diff).toBe(
      '@@ -1,5 +1,5 @@\n <html>\n-<head><title>Old title</title></head>\n+<head><title>New title</title></head>\n <body>\n <h1>Welcome</h1>\n <p>served by busybox</p>',
    );
    expect(byId.get('file[/srv/www/logo.bin]')!.changes[0]!.binary).toBe(true);
    expect(byId.get('file[/etc/app.secret]')!.changes[0]!.diff).toBe('(sensitive content changed)');
    expect(json.stdout).not.toMatch(/hunter2|correct-horse/);
    // Noop: nothing changed.
    expect(readFileSync(path.join(sb.root, 'srv/www/index.html'), 'utf8')).toBe(page('Old title'));
    expect(readFileSync(path.join(sb.root, 'etc/app.secret'), 'utf8')).toBe('password=hunter2\n');
    expect(existsSync(path.join(sb.root, 'var/lib/tsconverge'))).toBe(false); // plan writes no state either
  });
});

describe('in place where the engine allows', () => {
  const app = (p: string, id: string, memory: string, aliases: string): string => `
resources:
  - kind: docker.network
    name: ${p}-front
    labels: { tsconverge-test: ${id} }
  - kind: docker.network
    name: ${p}-back
    labels: { tsconverge-test: ${id} }
  - kind: docker.container
    name: ${p}-inplace
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${id} }
    memory: ${memory}
    networks: [{ name: ${p}-front }, { name: ${p}-back, aliases: [${aliases}] }]
    stopTimeout: 1
`;

  it('repairs a hand-disconnected network and changes memory and aliases live, keeping the container id', async () => {
    const name = `${sb.prefix}-inplace`;
    const id = `docker.container[${name}]`;
    const m = sb.manifest(app(sb.prefix, sb.id, '64Mi', 'db'));
    const first = await runCli(['apply', m, '--state-dir', stateDir(), '--format', 'json']);
    expect(first.code, first.stderr).toBe(2);
    const before = containerInfo(name);

    // By hand: the container leaves a network and its memory limit is lowered.
    docker('network', 'disconnect', `${sb.prefix}-back`, name);
    docker('update', '--memory', '32m', '--memory-swap', '64m', name);
    const plan = await runCli(['plan', m, '--state-dir', stateDir()]);
    expect(plan.code, plan.stderr).toBe(2);
    expect(plan.stdout).toContain(`  ~ ${id}\n      (changed outside tsconverge: memory, networks)`);
    expect(plan.stdout).toContain('memory: "32Mi" -> "64Mi"   # in place');
    expect(plan.stdout).toContain(`      networks:   # in place\n        + {"name":"${sb.prefix}-back","aliases":["db"]}`);

    const repair = await runCli(['apply', m, '--state-dir', stateDir(), '--format', 'json']);
    expect(repair.code, repair.stdout).toBe(2);
    expect(repair.json.resources.find((r: { id: string }) => r.id === id)).toMatchObject({ action: 'update', status: 'changed' });
    const after = containerInfo(name);
    expect(after.id).toBe(before.id);
    expect(after.startedAt).toBe(before.startedAt);
    expect(docker('inspect', '--format', '{{.HostConfig.Memory}}', name)).toBe(String(64 * 1024 ** 2));
    expect(docker('inspect', '--format', `{{json (index .NetworkSettings.Networks "${sb.prefix}-back").Aliases}}`, name)).toContain('"db"');

    // A declared change: memory and aliases, in place, same container.
    const m2 = sb.manifest(app(sb.prefix, sb.id, '48Mi', 'db, database'));
    const plan2 = await runCli(['plan', m2, '--state-dir', stateDir()]);
    expect(plan2.stdout).toContain('memory: "64Mi" -> "48Mi"   # in place');
    expect(plan2.stdout).not.toContain('changed outside tsconverge');
    const apply2 = await runCli(['apply', m2, '--state-dir', stateDir()]);
    expect(apply2.code, apply2.stdout + apply2.stderr).toBe(2);
    expect(containerInfo(name).id).toBe(before.id);
    expect(docker('inspect', '--format', '{{.HostConfig.Memory}}', name)).toBe(String(48 * 1024 ** 2));
    expect(docker('inspect', '--format', `{{json (index .NetworkSettings.Networks "${sb.prefix}-back").Aliases}}`, name)).toContain('"database"');
    expect((await runCli(['apply', m2, '--state-dir', stateDir()])).code).toBe(0);

    // Removed by hand: worded as such.
    docker('rm', '-f', name);
    const gone = await runCli(['plan', m2, '--state-dir', stateDir()]);
    expect(gone.stdout).toContain(`  + ${id}\n      (removed outside tsconverge)`);
  }, 180_000);
});

describe('consequences and the health-gated swap', () => {
  const web = (p: string, id: string, version: string, check: string): string => `
resources:
  - kind: docker.network
    name: ${p}-web
    labels: { tsconverge-test: ${id} }
  - kind: docker.container
    name: ${p}-web
    image: local/busybox:1
    command: [sh, -c, 'mkdir -p /www && echo "$VERSION" > /www/index.html && exec httpd -f -p 18200 -h /www']
    environment: { VERSION: ${version} }
    labels: { tsconverge-test: ${id} }
    networks: [{ name: ${p}-web, aliases: [www] }]
    healthcheck: { test: ${JSON.stringify(check)}, interval: 1s, timeout: 5s, retries: 3 }
    stopTimeout: 1
`;

  it('a new container that never becomes healthy is removed; the old one serves throughout and the replace reports rolled back', async () => {
    const name = `${sb.prefix}-web`;
    const id = `docker.container[${name}]`;
    const ok = 'wget -q -O /dev/null http://127.0.0.1:18200/ || exit 1';
    const m = sb.manifest(web(sb.prefix, sb.id, 'one', ok));
    const first = await runCli(['apply', m, '--state-dir', stateDir()]);
    expect(first.code, first.stdout + first.stderr).toBe(2);
    const before = containerInfo(name);
    const ip = docker('inspect', '--format', `{{(index .NetworkSettings.Networks "${name}").IPAddress}}`, name);
    const get = async (): Promise<string> => (await fetch(`http://${ip}:18200/`, { signal: AbortSignal.timeout(5000) })).text();
    expect((await get()).trim()).toBe('one');

    const m2 = sb.manifest(web(sb.prefix, sb.id, 'two', 'exit 1'));
    const plan = await runCli(['plan', m2, '--state-dir', stateDir()]);
    expect(plan.stdout).toContain(`  -/+ ${id} (replace: forced by healthcheck, environment)`);
    expect(plan.stdout).toContain('      downtime: none expected: the old one serves until the new one is healthy, then stops within 1 s (stop timeout)');
    expect(plan.stdout).toContain('      health check gates the swap: yes');

    // HTTP against the old container throughout the failed swap.
    let polling = true;
    const answers: string[] = [];
    const poller = (async () => {
      while (polling) {
        try {
          answers.push((await get()).trim());
        } catch (err) {
          answers.push(`error: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const swap = await runCli(['apply', m2, '--state-dir', stateDir(), '--format', 'json']);
    polling = false;
    await poller;
    expect(swap.code, swap.stdout + swap.stderr).toBe(4);
    const r = swap.json.resources.find((x: { id: string }) => x.id === id);
    expect(r).toMatchObject({ action: 'replace', status: 'failed', error: { code: 'ROLLED_BACK' } });
    expect(r.error.message).toContain('rolled back');
    expect(answers.length).toBeGreaterThan(10);
    expect(answers.filter((a) => a !== 'one')).toEqual([]);
    const after = containerInfo(name);
    expect(after.id).toBe(before.id);
    expect(after.status).toBe('running');
    expect(docker('ps', '-a', '--filter', `name=${name}--tsc`, '--format', '{{.Names}}')).toBe('');
    expect((await get()).trim()).toBe('one');

    const human = await runCli(['apply', m2, '--state-dir', stateDir()]);
    expect(human.stdout).toContain(`  ! ${id}: failed (replace), rolled back`);

    // A healthy replacement swaps in, then takes the alias; nothing is left to do.
    const good = await runCli(['apply', sb.manifest(web(sb.prefix, sb.id, 'three', ok)), '--state-dir', stateDir()]);
    expect(good.code, good.stdout + good.stderr).toBe(2);
    expect(containerInfo(name).id).not.toBe(before.id);
    expect(docker('inspect', '--format', `{{json (index .NetworkSettings.Networks "${name}").Aliases}}`, name)).toContain('"www"');
    expect((await runCli(['plan', sb.manifest(web(sb.prefix, sb.id, 'three', ok)), '--state-dir', stateDir()])).code).toBe(0);
  }, 180_000);
  it('with a published port the old one is stopped first, and started again when the new one never becomes healthy', async () => {
    const name = `${sb.prefix}-pub`;
    const port = await freePort();
    const id = `docker.container[${name}]`;
    const pub = (check: string, version: string): string =>
      sb.manifest(`
resources:
  - kind: docker.container
    name: ${name}
    image: local/busybox:1
    command: [sh, -c, 'mkdir -p /www && echo "$VERSION" > /www/index.html && exec httpd -f -p ${port} -h /www']
    environment: { VERSION: ${version} }
    labels: { tsconverge-test: ${sb.id} }
    ports: ["127.0.0.1:${port}:${port}"]
    healthcheck: { test: ${JSON.stringify(check)}, interval: 1s, timeout: 5s, retries: 3 }
    stopTimeout: 1
`);
    const first = await runCli(['apply', pub(`wget -q -O /dev/null http://127.0.0.1:${port}/ || exit 1`, 'one'), '--state-dir', stateDir()]);
    expect(first.code, first.stdout + first.stderr).toBe(2);
    const before = containerInfo(name);
    const get = async (): Promise<string> => (await (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) })).text()).trim();
    expect(await get()).toBe('one');
    const plan = await runCli(['plan', pub('exit 1', 'two'), '--state-dir', stateDir()]);
    expect(plan.stdout).toContain("      downtime: up to 1 s (stop timeout) plus the new container's start until healthy");
    const swap = await runCli(['apply', pub('exit 1', 'two'), '--state-dir', stateDir(), '--format', 'json']);
    expect(swap.code, swap.stdout + swap.stderr).toBe(4);
    expect(swap.json.resources.find((x: { id: string }) => x.id === id)).toMatchObject({ status: 'failed', error: { code: 'ROLLED_BACK' } });
    const after = containerInfo(name);
    expect(after.id).toBe(before.id);
    expect(after.status).toBe('running');
    expect(docker('ps', '-a', '--filter', `name=${name}--tsc`, '--format', '{{.Names}}')).toBe('');
    for (let i = 0; i < 20; i++) {
      try {
        if ((await get()) === 'one') break;
      } catch {
        /* starting */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await get()).toBe('one');
  }, 180_000);
});

describe('stateful containers', () => {
  const db = (p: string, id: string, tier: string): string => `
resources:
  - kind: docker.volume
    name: ${p}-data
    labels: { tsconverge-test: ${id} }
  - kind: docker.container
    name: ${p}-db
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${id}, tier: ${tier} }
    mounts: [{ type: volume, source: ${p}-data, target: /data }]
    stateful: true
    stopTimeout: 1
  - kind: docker.container
    name: ${p}-client
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${id}, talks-to: ${tier} }
    require: docker.container[${p}-db]
    stopTimeout: 1
`;

  it('is not replaced without --allow-replace; what depends on it still converges; with the flag the plan states the cost', async () => {
    const name = `${sb.prefix}-db`;
    const id = `docker.container[${name}]`;
    const m = sb.manifest(db(sb.prefix, sb.id, 'db'));
    expect((await runCli(['apply', m, '--state-dir', stateDir()])).code).toBe(2);
    docker('exec', name, 'sh', '-c', 'echo precious > /data/rows');
    const before = containerInfo(name);

    const m2 = sb.manifest(db(sb.prefix, sb.id, 'database'));
    const plan = await runCli(['plan', m2, '--state-dir', stateDir()]);
    expect(plan.stdout).toContain(`  ! ${id}: held, not replaced (stateful)`);
    const held = await runCli(['apply', m2, '--state-dir', stateDir(), '--format', 'json']);
    expect(held.code, held.stdout).toBe(6);
    expect(held.json.resources.find((x: { id: string }) => x.id === id)).toMatchObject({ status: 'skipped', error: { code: 'REPLACE_HELD' } });
    expect(held.json.resources.find((x: { id: string }) => x.id === `docker.container[${sb.prefix}-client]`)).toMatchObject({ status: 'changed' });
    expect(containerInfo(name).id).toBe(before.id);
    expect(containerInfo(name).startedAt).toBe(before.startedAt);

    const allowed = await runCli(['plan', m2, '--state-dir', stateDir(), '--allow-replace']);
    expect(allowed.stdout).toContain(`  -/+ ${id} (replace: forced by labels)`);
    expect(allowed.stdout).toContain("      downtime: up to 1 s (stop timeout) and the new container's start");
    expect(allowed.stdout).toContain(`      keeps: volume ${sb.prefix}-data at /data (named volume, data kept)`);
    const done = await runCli(['apply', m2, '--state-dir', stateDir(), '--allow-replace']);
    expect(done.code, done.stdout + done.stderr).toBe(2);
    expect(containerInfo(name).id).not.toBe(before.id);
    expect(docker('exec', name, 'cat', '/data/rows')).toBe('precious');
  }, 180_000);
});

describe('nothing forgotten', () => {
  it('a restart owed by a changed config file survives a run that failed with the engine unreachable', async () => {
    const name = `${sb.prefix}-owed`;
    const id = `docker.container[${name}]`;
    const conf = (v: string): string =>
      sb.manifest(`
resources:
  - kind: file
    name: /srv/owed/conf/app.conf
    content: "version=${v}\\n"
  - kind: docker.container
    name: ${name}
    image: local/busybox:1
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${sb.id} }
    mounts: [{ type: bind, source: /srv/owed/conf, target: /conf, readOnly: true }]
    stopTimeout: 1
`);
    const args = (m: string): string[] => [m, '--root', sb.root, '--state-dir', stateDir(), '--format', 'json'];
    expect((await runCli(['apply', ...args(conf('1'))])).code).toBe(2);
    const before = containerInfo(name);

    // The engine is unreachable for this run (a dead socket; the shared engine keeps running).
    const failed = await runCli(['apply', ...args(conf('2'))], { DOCKER_HOST: `unix://${path.join(sb.root, 'no-such-docker.sock')}` });
    expect(failed.code, failed.stdout + failed.stderr).toBe(6);
    expect(failed.json.resources.find((r: { id: string }) => r.id === 'file[/srv/owed/conf/app.conf]')).toMatchObject({ status: 'changed' });
    expect(failed.json.resources.find((r: { id: string }) => r.id === id)).toMatchObject({ status: 'failed', error: { code: 'DOCKER_UNREACHABLE' } });
    expect(readFileSync(path.join(sb.root, 'srv/owed/conf/app.conf'), 'utf8')).toBe('version=2\n');
    expect(JSON.parse(readFileSync(path.join(stateDir(), 'owed.json'), 'utf8'))[id]).toMatchObject({ because: 'file[/srv/owed/conf/app.conf]' });
    expect(containerInfo(name).startedAt).toBe(before.startedAt);

    // The next run: nothing differs, but the restart is still owed.
    const plan = await runCli(['plan', conf('2'), '--root', sb.root, '--state-dir', stateDir()]);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain(`  ~ ${id} (restart: owed since file[/srv/owed/conf/app.conf] changed in an earlier run)`);
    expect(plan.stdout).toContain(
      '      downtime: up to 1 s (stop timeout) and the start\n      health check gates the swap: no\n      order: the container is stopped and started again (same container, same id)',
    );
    const next = await runCli(['apply', ...args(conf('2'))]);
    expect(next.code, next.stdout).toBe(2);
    expect(next.json.resources.find((r: { id: string }) => r.id === id)).toMatchObject({
      status: 'changed',
      refresh: true,
      refreshOwedBy: 'file[/srv/owed/conf/app.conf]',
    });
    const after = containerInfo(name);
    expect(after.id).toBe(before.id);
    expect(after.startedAt).not.toBe(before.startedAt);
    expect(JSON.parse(readFileSync(path.join(stateDir(), 'owed.json'), 'utf8'))).toEqual({});
    expect((await runCli(['apply', ...args(conf('2'))])).code).toBe(0);
  }, 180_000);
});

describe('images in a dry run', () => {
  it('a tag pushed anew shows as a pending image change in plan, with old and new digests and zero pulls; apply pulls and replaces', async () => {
    const repo = `${REGISTRY}/hl-${sb.id}`;
    const ref = `${repo}:v`;
    docker('tag', 'local/busybox:1', ref);
    const oldDigest = /digest: (sha256:[0-9a-f]{64})/.exec(docker('push', ref))![1]!;
    const name = `${sb.prefix}-tagged`;
    const m = sb.manifest(`
resources:
  - kind: docker.image
    name: ${ref}
    pull: newer
  - kind: docker.container
    name: ${name}
    image: ${ref}
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${sb.id} }
    stopTimeout: 1
`);
    try {
      expect((await runCli(['apply', m, '--state-dir', stateDir()])).code).toBe(2);
      expect((await runCli(['plan', m, '--state-dir', stateDir()])).code).toBe(0);
      const before = containerInfo(name);

      // Someone pushes a new image under the same tag; this host still has the old one.
      docker('tag', 'local/busybox:2', ref);
      const newDigest = /digest: (sha256:[0-9a-f]{64})/.exec(docker('push', ref))![1]!;
      docker('tag', before.image, ref);
      expect(newDigest).not.toBe(oldDigest);

      const since = Math.floor(Date.now() / 1000) - 1;
      const plan = await runCli(['plan', m, '--state-dir', stateDir()]);
      const until = Math.floor(Date.now() / 1000) + 1;
      expect(plan.code, plan.stdout + plan.stderr).toBe(2);
      expect(plan.stdout).toContain(`  -/+ docker.image[${ref}] (replace: forced by digest)\n      digest: "${oldDigest}" -> "${newDigest}"`);
      expect(plan.stdout).toContain(`  -/+ docker.container[${name}] (replace: forced by image, when docker.image[${ref}] is pulled or built)`);
      const pulls = docker(
        'events',
        '--since',
        String(since),
        '--until',
        String(until),
        '--filter',
        'type=image',
        '--filter',
        'event=pull',
        '--filter',
        `image=${repo}`,
        '--format',
        '{{.ID}}',
      );
      expect(pulls).toBe('');
      expect(containerInfo(name).image).toBe(before.image);

      const applySince = Math.floor(Date.now() / 1000) - 1;
      const apply = await runCli(['apply', m, '--state-dir', stateDir(), '--format', 'json']);
      expect(apply.code, apply.stdout + apply.stderr).toBe(2);
      // The same count sees the real run's pull: the zero above is not a blind counter.
      const applyPulls = docker(
        'events',
        '--since',
        String(applySince),
        '--until',
        String(Math.floor(Date.now() / 1000) + 1),
        '--filter',
        'type=image',
        '--filter',
        'event=pull',
        '--filter',
        `image=${repo}`,
        '--format',
        '{{.ID}}',
      );
      expect(applyPulls.split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(1);
      const after = containerInfo(name);
      expect(after.id).not.toBe(before.id);
      expect(after.image).toBe(docker('image', 'inspect', '--format', '{{.Id}}', 'local/busybox:2'));
      expect((await runCli(['plan', m, '--state-dir', stateDir()])).code).toBe(0);
    } finally {
      try {
        docker('rm', '-f', name);
        docker('rmi', ref);
        // The pulls left digest references (REPO@sha256:...) on the shared local/busybox images: remove those, never the images.
        for (const d of docker('images', '--digests', '--format', '{{.Repository}}@{{.Digest}}', repo)
          .split('\n')
          .filter((l) => l.includes('@sha256:')))
          docker('rmi', d);
      } catch {
        /* cleanup */
      }
    }
  }, 180_000);
});
