/**
 * import compose (issue 13) against the real engine and Debian's docker-compose 1.29:
 * twelve Compose files of the shapes found in public sample repositories are imported
 * and validated; most are also converged both ways. (1) The stack runs under Compose, the
 * imported manifest adopts it (plan: adopt only, then no changes) and no container is
 * restarted, and Compose still finds its stack up to date. (2) tsconverge creates the same
 * stack under another project name from the same file, and what the engine shows for it
 * matches what Compose made (the inspected attributes that matter).
 * Project names start with hm-; everything is removed with docker-compose down -v and by
 * name and label afterwards.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, docker, REPO, requireDocker, runCli, freePort, type Sandbox } from '../support/harness.js';

const FIXTURES = path.join(REPO, 'test/fixtures/compose');
const RUN = randomBytes(3).toString('hex');

interface Case {
  readonly dir: string;
  readonly files?: readonly string[];
  readonly args?: readonly string[];
  /** Containers the import declares. */
  readonly containers: readonly string[];
  /** Expected warnings, as `file:line:col: key` prefixes. */
  readonly warnings?: readonly string[];
  readonly converge?: boolean;
  /** Variables that publish host ports: given other values for each project. */
  readonly portVars?: readonly string[];
  /** A published file: its warnings are many and checked in src/import; only their form is checked here. */
  readonly published?: boolean;
}

const CASES: readonly Case[] = [
  { dir: 'web-db', containers: ['web', 'db'], converge: true, portVars: ['WEB_PORT'] },
  { dir: 'reverse-proxy', containers: ['proxy', 'api', 'worker'], converge: true, portVars: ['PROXY_PORT'] },
  {
    dir: 'healthcheck-depends',
    containers: ['db', 'cache', 'app'],
    converge: true,
    warnings: ['docker-compose.yml:23:9: services.app.depends_on.db.condition'],
  },
  { dir: 'dotenv', containers: ['app'], converge: true, portVars: ['APP_PORT'] },
  { dir: 'profiles', containers: ['app'] },
  { dir: 'profiles', args: ['--profile', 'debug'], containers: ['app', 'debug', 'metrics'] },
  {
    dir: 'multi-file',
    files: ['docker-compose.yml', 'docker-compose.override.yml'],
    containers: ['web'],
    converge: true,
    portVars: ['WEB_PORT', 'DEBUG_PORT'],
  },
  { dir: 'env-file', containers: ['app'], converge: true },
  { dir: 'logging-limits', containers: ['api', 'job'], converge: true },
  { dir: 'secrets-configs', containers: ['app', 'proxy'], warnings: ['docker-compose.yml:14:9: services.proxy.configs.0'] },
  { dir: 'bind-tmpfs-anon', containers: ['web'], converge: true },
  {
    dir: 'unsupported',
    containers: ['builder', 'host', 'app'],
    warnings: [
      // privileged, ulimits, network_mode and ipv4_address are carried over since issue 28; the address on a network without a subnet is flagged
      'docker-compose.yml:6:5: services.builder.expose',
      'docker-compose.yml:22:9: services.app.networks.default.ipv4_address',
      'docker-compose.yml:19:9: services.app.ports.0',
      'docker-compose.yml:17:9: services.app.volumes.0',
    ],
  },
  { dir: 'long-syntax', containers: ['app'], converge: true, portVars: ['APP_PORT'] },
  // Published files (issue 28), each with its LICENSE beside it: the current Compose Specification.
  { dir: 'n8n-ai-starter-kit', containers: ['postgres', 'n8n-import', 'n8n', 'qdrant'], published: true },
  { dir: 'awesome-pihole-cloudflared-DoH', files: ['compose.yaml'], containers: ['cloudflared', 'pihole'], published: true },
  { dir: 'awesome-plex', files: ['compose.yaml'], containers: ['plex'], published: true },
  { dir: 'mailcow', containers: [], published: true },
  { dir: 'sentry-self-hosted', containers: [], published: true },
];

let sb: Sandbox;
const projects: { name: string; cwd: string; files: readonly string[]; env: Record<string, string> }[] = [];
beforeAll(() => {
  requireDocker();
  sb = createSandbox('hm-compose');
  execFileSync('docker-compose', ['version'], { stdio: 'ignore' });
});
afterAll(() => {
  for (const p of projects) {
    try {
      compose(p.cwd, p.files, p.name, p.env, 'down', '-v', '-t', '0');
    } catch {
      /* already gone */
    }
  }
  removeByName(`hm-${RUN}`);
  sb?.cleanup();
});

function compose(cwd: string, files: readonly string[], project: string, env: Record<string, string>, ...args: string[]): string {
  return execFileSync('docker-compose', [...files.flatMap((f) => ['-f', f]), '-p', project, ...args], {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** tsconverge's copies carry no test label (they are what the import declares): removed by their unique name. */
function removeByName(part: string): void {
  const ids = (kind: string[]): string[] =>
    docker(...kind, '-q', '--filter', `name=${part}`)
      .split('\n')
      .filter(Boolean);
  const cs = ids(['ps', '-a']);
  if (cs.length) docker('rm', '-f', '-v', ...cs); // -v: their anonymous volumes too (bind-tmpfs-anon declares one)
  for (const n of ids(['network', 'ls'])) {
    try {
      docker('network', 'rm', n);
    } catch {
      /* engine quirk: see TEST_ENV */
    }
  }
  const vs = ids(['volume', 'ls']);
  if (vs.length) {
    try {
      docker('volume', 'rm', '-f', ...vs);
    } catch {
      /* in use by a container being removed */
    }
  }
}

const files = (c: Case): readonly string[] => c.files ?? ['docker-compose.yml'];

async function importCase(c: Case, project: string, env: Record<string, string>): Promise<{ manifest: string; stderr: string }> {
  const out = sb.write(`${project}.yaml`, '');
  const r = await runCli(['import', 'compose', ...files(c).map((f) => path.join(FIXTURES, c.dir, f)), '-p', project, '-o', out, ...(c.args ?? [])], env);
  expect(r.code, r.stderr).toBe(0);
  return { manifest: out, stderr: r.stderr };
}

describe('import compose: every sample is imported and validates', () => {
  it.each(CASES.map((c, i) => [`${c.dir}${c.args ? ' ' + c.args.join(' ') : ''}`, i] as const))('%s', async (_name, i) => {
    const c = CASES[i]!;
    const project = `hm-${RUN}-v${i}`;
    const { manifest, stderr } = await importCase(c, project, { FROM_SHELL: 'x' });
    const warnings = stderr.split('\n').filter((l) => l.startsWith('warning: '));
    const expected = c.warnings ?? [];
    if (c.published)
      for (const w of warnings) expect(w, stderr).toMatch(/^warning: \/.+:\d+:\d+: [^ ]+: ./); // file:line:col: key: why
    else expect(warnings.length, stderr).toBe(expected.length);
    for (const w of expected)
      expect(
        warnings.some((l) => l.startsWith(`warning: ${path.join(FIXTURES, c.dir, w)}`)),
        `${w}\n${stderr}`,
      ).toBe(true);
    const v = await runCli(['validate', manifest, '--format', 'json']);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.json.resources).toBeGreaterThan(c.containers.length - 1);
    const names = (parse(readFileSync(manifest, 'utf8')) as { resources: { kind: string; name: string }[] }).resources
      .filter((r) => r.kind === 'docker.container')
      .map((r) => r.name);
    if (!c.published) expect(names.sort()).toEqual(c.containers.map((s) => `${project}_${s}_1`).sort());
    else expect(names.length).toBeGreaterThanOrEqual(c.containers.length);
  });
});

type Inspect = any;
const ANON = /^[0-9a-f]{64}$/;

/** The attributes that matter, with the project name and the published ports abstracted. */
function shape(c: Inspect, project: string, ports: Record<string, string>): Record<string, unknown> {
  const hc = c.HostConfig;
  const p = (s: string): string => s.split(project).join('P');
  const userLabels = (l: Record<string, string> | null): Record<string, string> =>
    Object.fromEntries(Object.entries(l ?? {}).filter(([k]) => !/^(com\.docker\.compose\.|io\.tsconverge\.)/.test(k)));
  const caps = (l: string[] | null): string[] => (l ?? []).map((x) => x.replace(/^CAP_/, '')).sort();
  return {
    name: p(c.Name),
    image: c.Config.Image,
    cmd: c.Config.Cmd,
    entrypoint: c.Config.Entrypoint,
    env: [...c.Config.Env].filter((e: string) => !e.startsWith('affinity:')).sort(),
    labels: userLabels(c.Config.Labels),
    running: c.State.Running,
    ports: Object.entries(hc.PortBindings ?? {})
      .flatMap(([k, bs]) => ((bs as any[]) ?? []).map((b) => `${b.HostIp}:${ports[b.HostPort] ?? b.HostPort}:${k}`))
      .sort(),
    mounts: (c.Mounts as any[])
      .filter((m) => m.Type !== 'tmpfs')
      .map((m) => `${m.Type}:${m.Type === 'volume' ? (ANON.test(m.Name) ? 'anon' : p(m.Name)) : m.Source}:${m.Destination}:${m.RW}`)
      .sort(),
    tmpfs: [
      ...Object.entries(hc.Tmpfs ?? {}).map(([t, o]) => `${t}:${/size=(\d+)/.exec(String(o))?.[1] ?? ''}`),
      ...((hc.Mounts ?? []) as any[]).filter((m) => m.Type === 'tmpfs').map((m) => `${m.Target}:${m.TmpfsOptions?.SizeBytes ?? ''}`),
    ].sort(),
    networks: Object.entries(c.NetworkSettings.Networks)
      .map(
        ([n, e]: [string, any]) =>
          `${p(n)}:${((e.Aliases ?? []) as string[])
            .filter((a) => a !== c.Id.slice(0, 12) && a !== c.Config.Hostname)
            .sort()
            .join(',')}`,
      )
      .sort(),
    restart: { ...hc.RestartPolicy, Name: hc.RestartPolicy.Name || 'no' }, // "" and "no" are the same policy memory: hc.Memory, memorySwap: hc.MemorySwap, nanoCpus: hc.NanoCpus, log: hc.LogConfig,
    healthcheck: c.Config.Healthcheck ?? null,
    hostname: c.Config.Hostname === c.Id.slice(0, 12) ? '(id)' : c.Config.Hostname,
    dns: hc.Dns ?? [],
    sysctls: hc.Sysctls ?? {},
    capAdd: caps(hc.CapAdd),
    capDrop: caps(hc.CapDrop),
    readOnly: hc.ReadonlyRootfs,
    user: c.Config.User,
    workingDir: c.Config.WorkingDir,
  };
}

function stackShape(project: string, ports: Record<string, string>): Record<string, unknown> {
  const ids = docker('ps', '-aq', '--filter', `name=${project}_`).split('\n').filter(Boolean);
  const containers = (JSON.parse(docker('inspect', ...ids)) as Inspect[])
    .map((c) => shape(c, project, ports))
    .sort((a, b) => String(a.name).localeCompare(String(b.name)));
  const nets = docker('network', 'ls', '-q', '--filter', `name=${project}_`).split('\n').filter(Boolean);
  const vols = docker('volume', 'ls', '-q', '--filter', `name=${project}_`).split('\n').filter(Boolean);
  const userLabels = (l: Record<string, string> | null): Record<string, string> =>
    Object.fromEntries(Object.entries(l ?? {}).filter(([k]) => !/^(com\.docker\.compose\.|io\.tsconverge\.)/.test(k)));
  return {
    containers,
    networks: nets.length
      ? (JSON.parse(docker('network', 'inspect', ...nets)) as Inspect[])
          .map((n) => ({
            name: n.Name.split(project).join('P'),
            driver: n.Driver,
            internal: n.Internal,
            attachable: n.Attachable,
            options: n.Options ?? {},
            labels: userLabels(n.Labels),
          }))
          .sort((a, b) => a.name.localeCompare(b.name))
      : [],
    volumes: vols.length
      ? (JSON.parse(docker('volume', 'inspect', ...vols)) as Inspect[])
          .map((v) => ({ name: v.Name.split(project).join('P'), driver: v.Driver, options: v.Options ?? {}, labels: userLabels(v.Labels) }))
          .sort((a, b) => a.name.localeCompare(b.name))
      : [],
  };
}

const started = (project: string): string =>
  docker('ps', '-aq', '--filter', `name=${project}_`)
    .split('\n')
    .filter(Boolean)
    .map((id) => docker('inspect', '--format', '{{.Name}} {{.Id}} {{.State.StartedAt}}', id))
    .sort()
    .join('\n');

describe('import compose: converged, compared with what Compose makes', () => {
  const converge = CASES.map((c, i) => [c.dir, i] as const).filter(([, i]) => CASES[i]!.converge);
  it.each(converge)(
    '%s: adopts the running Compose stack without a restart; a fresh copy matches it',
    async (_dir, i) => {
      const c = CASES[i]!;
      const projA = `hm-${RUN}-a${i}`;
      const projB = `hm-${RUN}-b${i}`;
      const envA: Record<string, string> = { FROM_SHELL: 'x', TSCONVERGE_STATE_DIR: path.join(sb.dir, `state-${projA}`) };
      const envB: Record<string, string> = { FROM_SHELL: 'x', TSCONVERGE_STATE_DIR: path.join(sb.dir, `state-${projB}`) };
      const portsA: Record<string, string> = {};
      const portsB: Record<string, string> = {};
      for (const v of c.portVars ?? []) {
        const [pa, pb] = [String(await freePort()), String(await freePort())];
        envA[v] = pa;
        portsA[pa] = `$${v}`;
        envB[v] = pb;
        portsB[pb] = `$${v}`;
      }
      const cwd = path.join(FIXTURES, c.dir);
      projects.push({ name: projA, cwd, files: files(c), env: envA });
      try {
        await convergeBoth(c, cwd, projA, projB, envA, envB, portsA, portsB);
      } finally {
        // Each case removes its stacks at once: the engine's default address pools hold few networks.
        try {
          compose(cwd, files(c), projA, envA, 'down', '-v', '-t', '0');
        } catch {
          /* afterAll tries again */
        }
        removeByName(projB);
      }
    },
    180_000,
  );
});

async function convergeBoth(
  c: Case,
  cwd: string,
  projA: string,
  projB: string,
  envA: Record<string, string>,
  envB: Record<string, string>,
  portsA: Record<string, string>,
  portsB: Record<string, string>,
): Promise<void> {
  compose(cwd, files(c), projA, envA, 'up', '-d');
  const before = started(projA);

  // (1) Adopt the running stack: the plan shows adoptions and nothing else; apply restarts nothing.
  const { manifest: mA } = await importCase(c, projA, envA);
  const plan = await runCli(['plan', mA, '--format', 'json'], envA);
  expect(plan.code, plan.stdout + plan.stderr).toBe(2);
  for (const r of plan.json.resources) {
    expect([r.id, r.action, r.changes]).toEqual([r.id, 'adopt', []]);
    expect(r.adopt.madeBy).toMatch(new RegExp(`^Docker Compose 1\\.29\\.\\d+ \\(project ${projA}, `));
  }
  const apply = await runCli(['apply', mA], envA);
  expect(apply.code, apply.stdout + apply.stderr).toBe(2);
  const again = await runCli(['plan', mA], envA);
  expect(again.code, again.stdout).toBe(0);
  expect(again.stdout).toContain('No changes.');
  expect(started(projA)).toBe(before);
  // Compose still considers its stack its own and up to date: nobody fights.
  const up = execFileSync('docker-compose', [...files(c).flatMap((f) => ['-f', f]), '-p', projA, 'up', '-d'], {
    cwd,
    env: { ...process.env, ...envA },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  void up;
  expect(started(projA)).toBe(before);

  // (2) tsconverge creates the same stack from the same file: the engine shows the same thing.
  const { manifest: mB } = await importCase(c, projB, envB);
  const create = await runCli(['apply', mB], envB);
  expect(create.code, create.stdout + create.stderr).toBe(2);
  expect((await runCli(['plan', mB], envB)).code).toBe(0);
  expect(stackShape(projB, portsB)).toEqual(stackShape(projA, portsA));
}
