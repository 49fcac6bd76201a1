/**
 * import host (issue 13): a hand-started stack (docker network/volume create, docker run)
 * becomes a manifest whose plan changes nothing: only adoptions, then no changes at all,
 * with no container restarted. A stack tsconverge made imports without adoptions and plans
 * empty at once. Host settings (DNS and NTP under --root, a sysctl) are imported likewise.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createSandbox, docker, requireDocker, runCli, freePort, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
let p: string;
let env: Record<string, string>;
beforeAll(async () => {
  const webPort = await freePort();
  requireDocker();
  sb = createSandbox('hm-host');
  p = `hm-${sb.id}`;
  env = { TSCONVERGE_STATE_DIR: path.join(sb.dir, 'state') };
  docker('network', 'create', '--label', sb.label, '--internal', `${p}-back`);
  docker('network', 'create', '--label', sb.label, `${p}-front`);
  docker('volume', 'create', '--label', sb.label, '--label', 'backup=daily', `${p}-data`);
  docker(
    'run',
    '-d',
    '--name',
    `${p}-web`,
    '--label',
    sb.label,
    '--label',
    'tier=web',
    '--network',
    `${p}-front`,
    '--network-alias',
    'www',
    '-p',
    `127.0.0.1:${webPort}:80`,
    '-v',
    `${p}-data:/data`,
    '-v',
    `${sb.root}:/site:ro`,
    '-v',
    '/anon',
    '--tmpfs',
    '/run',
    '-e',
    'MODE=prod',
    '--restart',
    'unless-stopped',
    '--memory',
    '32m',
    '--cpus',
    '0.5',
    '--log-opt',
    'max-size=1m',
    '--health-cmd',
    'true',
    '--health-interval',
    '5s',
    '--hostname',
    'web1',
    '--cap-drop',
    'MKNOD',
    'local/busybox:1',
    'httpd',
    '-f',
    '-p',
    '80',
    '-h',
    '/www',
  );
  docker('network', 'connect', '--alias', 'web.back', `${p}-back`, `${p}-web`);
  docker(
    'run',
    '-d',
    '--name',
    `${p}-worker`,
    '--label',
    sb.label,
    '--read-only',
    '--user',
    '65534',
    '-w',
    '/tmp',
    '--network',
    `${p}-back`,
    '--stop-timeout',
    '1',
    'local/busybox:2',
    'sleep',
    '100000',
  );
  docker('create', '--name', `${p}-stopped`, '--label', sb.label, 'local/busybox:1', 'sleep', '5');
});
afterAll(() => sb?.cleanup());

const started = (): string =>
  docker('ps', '-aq', '--filter', `name=${p}-`)
    .split('\n')
    .filter(Boolean)
    .map((id) => docker('inspect', '--format', '{{.Name}} {{.Id}} {{.State.StartedAt}}', id))
    .sort()
    .join('\n');

describe('import host', () => {
  it('writes a manifest for a hand-started stack whose plan changes nothing', async () => {
    const out = path.join(sb.dir, 'host.yaml');
    const imp = await runCli(['import', 'host', '--prefix', p, '-o', out], env);
    expect(imp.code, imp.stderr).toBe(0);
    const doc = parse(readFileSync(out, 'utf8')) as { resources: Record<string, any>[] };
    expect(doc.resources.map((r) => `${r.kind}[${r.name}]`)).toEqual([
      `docker.network[${p}-back]`,
      `docker.network[${p}-front]`,
      `docker.volume[${p}-data]`,
      `docker.container[${p}-stopped]`,
      `docker.container[${p}-web]`,
      `docker.container[${p}-worker]`,
    ]);
    const web = doc.resources.find((r) => r.name === `${p}-web`)!;
    // Engine and image defaults are left out; what was asked for is there.
    expect(web.environment).toEqual({ MODE: 'prod' });
    expect(web.image).toBe('local/busybox:1');
    expect(web.entrypoint).toBeUndefined();
    expect(web.user).toBeUndefined();
    expect(web.networks).toEqual([
      { name: `${p}-back`, aliases: ['web.back'] },
      { name: `${p}-front`, aliases: ['www'] },
    ]);
    expect(doc.resources.find((r) => r.name === `${p}-stopped`)).toMatchObject({ ensure: 'stopped', command: ['sleep', '5'], adopt: true });
    expect(doc.resources.find((r) => r.name === `${p}-back`)).toEqual({
      kind: 'docker.network',
      name: `${p}-back`,
      internal: true,
      labels: { 'tsconverge-test': sb.id },
      adopt: true,
    });

    const before = started();
    const plan = await runCli(['plan', out, '--format', 'json'], env);
    expect(plan.code, plan.stdout + plan.stderr).toBe(2);
    for (const r of plan.json.resources) expect([r.id, r.action, r.changes]).toEqual([r.id, 'adopt', []]);
    expect((await runCli(['apply', out], env)).code).toBe(2);
    const again = await runCli(['plan', out], env);
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toContain('No changes.');
    expect(started()).toBe(before);
  }, 120_000);

  it('imports a stack tsconverge made without adoptions: the plan is empty at once', async () => {
    const q = `${p}-own`;
    const m = sb.write(
      'own.yaml',
      `
resources:
  - kind: docker.network
    name: ${q}-net
    labels: { tsconverge-test: ${sb.id} }
  - kind: docker.container
    name: ${q}-app
    image: local/busybox:2
    command: [sleep, "100000"]
    networks: [{ name: ${q}-net, aliases: [app] }]
    environment: { A: "1" }
    labels: { tsconverge-test: ${sb.id} }
    stopTimeout: 1
`,
    );
    expect((await runCli(['apply', m], env)).code).toBe(2);
    const out = path.join(sb.dir, 'own-host.yaml');
    expect((await runCli(['import', 'host', '--prefix', q, '-o', out], env)).code).toBe(0);
    expect(readFileSync(out, 'utf8')).not.toContain('adopt');
    const plan = await runCli(['plan', out], env);
    expect(plan.code, plan.stdout).toBe(0);
  }, 60_000);

  it('with --host-settings, imports DNS and NTP from --root and sysctls under a prefix, planned without changes', async () => {
    mkdirSync(path.join(sb.root, 'etc'), { recursive: true });
    writeFileSync(path.join(sb.root, 'etc/resolv.conf'), 'nameserver 192.0.2.53\nsearch example.test\noptions ndots:2\n');
    mkdirSync(path.join(sb.root, 'etc/chrony'), { recursive: true });
    writeFileSync(
      path.join(sb.root, 'etc/chrony/chrony.conf'),
      '# by hand\nserver 192.0.2.1 iburst\nserver 192.0.2.2\npool pool.example.test iburst maxsources 2\nmakestep 1 3\ndriftfile /var/lib/chrony/chrony.drift\nleapsectz right/UTC\n',
    );
    const out = path.join(sb.dir, 'settings.yaml');
    const imp = await runCli(
      ['import', 'host', '--prefix', `${p}-none`, '--host-settings', '--root', sb.root, '--sysctl-prefix', 'net.core.somaxconn', '-o', out],
      env,
    );
    expect(imp.code, imp.stderr).toBe(0);
    const doc = parse(readFileSync(out, 'utf8')) as { resources: Record<string, any>[] };
    expect(doc.resources[0]).toEqual({ kind: 'dns', name: 'resolver', nameservers: ['192.0.2.53'], search: ['example.test'], options: ['ndots:2'] });
    expect(doc.resources[1]).toEqual({
      kind: 'ntp',
      name: 'chrony',
      provider: 'chrony',
      iburst: false,
      servers: [{ host: '192.0.2.1', iburst: true }, { host: '192.0.2.2' }],
      pools: [{ host: 'pool.example.test', iburst: true, options: ['maxsources 2'] }],
      makestep: { threshold: 1, limit: 3 },
      allow: [],
      driftfile: '/var/lib/chrony/chrony.drift',
      rtcsync: false,
      extraLines: ['leapsectz right/UTC'],
    });
    expect(doc.resources[2]).toMatchObject({ kind: 'sysctl', name: 'net.core.somaxconn', persist: false });
    expect(doc.resources[2]!.value).toBe(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
    const plan = await runCli(['plan', out, '--root', sb.root], env);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
  }, 60_000);
});
