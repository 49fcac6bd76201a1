/**
 * The current Compose Specification (issue 28): published files that the old schema
 * refused (name, long env_file, many merge keys), include, extends, !reset/!override,
 * the alias bound set from the file's size, and what is flagged instead of passed silently.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ManifestErrors } from '../core/errors.js';
import { importCompose } from './compose.js';
import { formatWarning } from './compose-load.js';
import { aliasBudget } from './compose-yaml.js';

const FIX = fileURLToPath(new URL('../../test/fixtures/compose/', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'i28-compose-'));
const write = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const byName = (rs: readonly Record<string, unknown>[], name: string): Record<string, unknown> => rs.find((r) => r.name === name)!;
const warned = (r: { warnings: readonly { key: string; message: string }[] }, key: string): string =>
  r.warnings
    .filter((w) => w.key === key)
    .map((w) => w.message)
    .join('\n');

describe('published files the old schema refused', () => {
  it('Sentry self-hosted: 131 merge keys, name:, profiles; no alias limit hit', async () => {
    const r = await importCompose([path.join(FIX, 'sentry-self-hosted/docker-compose.yml')], { env: {} });
    expect(r.project).toBe('sentry-self-hosted'); // COMPOSE_PROJECT_NAME from its .env
    const web = byName(r.resources, 'sentry-self-hosted_web_1');
    expect(web).toMatchObject({ restart: 'unless-stopped' }); // from the x-restart-policy fragment, merged with <<
    expect(r.resources.filter((x) => x.kind === 'docker.container').length).toBeGreaterThan(50);
    expect(warned(r, 'services.web.pull_policy')).toMatch(/^Compose-only/);
    // depends_on restart: true (Sentry's nginx on web and relay) restarts it when they change
    expect(byName(r.resources, 'sentry-self-hosted_nginx_1')).toMatchObject({
      subscribe: ['docker.container[sentry-self-hosted_web_1]', 'docker.container[sentry-self-hosted_relay_1]'],
    });
    expect(r.warnings.filter((w) => w.key.endsWith('.restart') || w.key.endsWith('.required'))).toEqual([]);
  });

  it('n8n AI starter kit: env_file long form (path, required) and fragments', async () => {
    const r = await importCompose([path.join(FIX, 'n8n-ai-starter-kit/docker-compose.yml')], { env: {} });
    const n8n = byName(r.resources, 'n8n');
    expect(n8n).toMatchObject({
      image: 'n8nio/n8n:latest',
      environment: { DB_TYPE: 'postgresdb', N8N_ENCRYPTION_KEY: 'super-secret-key', POSTGRES_DB: 'n8n' },
    });
    expect(r.warnings.filter((w) => w.key.includes('<<') || w.key.includes('Symbol'))).toEqual([]);
  });

  it('an optional env_file (required: false) that is missing is skipped quietly; a required one is a warning', async () => {
    const f = write(
      'envfile.yml',
      'services:\n  a:\n    image: x\n    env_file:\n      - path: ./missing-optional.env\n        required: false\n      - path: ./missing.env\n',
    );
    const r = await importCompose([f], { projectName: 'p', env: {} });
    expect(r.warnings.map(formatWarning)).toEqual([expect.stringMatching(new RegExp(`^${f}:7:9: services.a.env_file.1: cannot read .*missing.env`))]);
  });

  it('network_mode host is the host network, never the default bridge; service:NAME shares that container', async () => {
    const r = await importCompose([path.join(FIX, 'awesome-plex/compose.yaml')], { env: { PLEX_MEDIA_PATH: '/srv/media' } });
    const plex = byName(r.resources, 'plex');
    expect(plex.networkMode).toBe('host');
    expect(plex.networks).toBeUndefined();
    expect(r.resources.filter((x) => x.kind === 'docker.network')).toEqual([]);
    const f = write('svcmode.yml', 'services:\n  vpn:\n    image: x\n  app:\n    image: y\n    network_mode: service:vpn\n');
    const s = await importCompose([f], { projectName: 'p', env: {} });
    expect(byName(s.resources, 'p_app_1')).toMatchObject({ networkMode: 'container:p_vpn_1', require: ['docker.container[p_vpn_1]'] });
  });
});

describe('what real stacks use is carried over (mailcow)', () => {
  it('ulimits, tty, privileged, security_opt, static addresses, IPv6 subnets', async () => {
    const r = await importCompose([path.join(FIX, 'mailcow/docker-compose.yml')], { projectName: 'm', env: {} });
    expect(byName(r.resources, 'm_dovecot-mailcow_1')).toMatchObject({
      ulimits: { nproc: 65535, nofile: { soft: 20000, hard: 40000 } },
      tty: true,
      networks: [{ name: 'm_mailcow-network', aliases: ['dovecot', 'dovecot-mailcow'], ipv4Address: '172.22.1.250' }],
    });
    expect(byName(r.resources, 'm_netfilter-mailcow_1')).toMatchObject({ privileged: true, networkMode: 'host' });
    expect(byName(r.resources, 'm_dockerapi-mailcow_1')).toMatchObject({ securityOpt: ['label=disable'], dns: ['172.22.1.254'] });
    expect(byName(r.resources, 'm_mailcow-network')).toMatchObject({
      enableIPv6: true,
      subnet: '172.22.1.0/24',
      ipv6Subnet: 'fd4d:6169:6c63:6f77::/64',
      options: { 'com.docker.network.bridge.name': 'br-mailcow' },
    });
    for (const k of ['ulimits', 'tty', 'privileged', 'security_opt', 'ipv4_address']) expect(r.warnings.filter((w) => w.key.endsWith(`.${k}`))).toEqual([]);
  });
});

describe('build: becomes a docker.image built on this host', () => {
  it('awesome-compose nginx-flask-mysql: both built services, named as Compose names them; build secrets flagged', async () => {
    const dirOf = path.join(FIX, 'awesome-nginx-flask-mysql');
    const r = await importCompose([path.join(dirOf, 'compose.yaml')], { projectName: 'p', env: {}, containerNames: 'v2' });
    expect(r.resources.filter((x) => x.kind === 'docker.image')).toEqual([
      { kind: 'docker.image', name: 'p-backend', build: { context: path.join(dirOf, 'backend'), target: 'builder' } },
      { kind: 'docker.image', name: 'p-proxy', build: { context: path.join(dirOf, 'proxy') } },
    ]);
    expect(byName(r.resources, 'p-backend-1').image).toBe('p-backend');
    expect(r.warnings.filter((w) => w.key.endsWith('.build'))).toEqual([]);
    const f = write('bsecret.yml', 'services:\n  a:\n    build:\n      context: .\n      secrets: [tok]\nsecrets:\n  tok:\n    file: ./tok.txt\n');
    const s = await importCompose([f], { projectName: 'p', env: {} });
    expect(warned(s, 'services.a.build.secrets')).toMatch(/^build secrets need BuildKit/);
  });
});

describe('YAML: aliases, fragments and tags', () => {
  it('a real alias bomb is refused with its file, line and column', async () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++)
      levels.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
          .fill('*' + String.fromCharCode(96 + i))
          .join(',')}]`,
      );
    const f = write('bomb.yml', `x-bomb:\n  ${levels.join('\n  ')}\nservices:\n  a:\n    image: x\n`);
    const err = await importCompose([f], { projectName: 'p', env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManifestErrors);
    const msg = (err as ManifestErrors).errors[0]!.format();
    expect(msg).toMatch(new RegExp(`^${f}:\\d+:\\d+: the aliases expand to more than ${aliasBudget(1000)} YAML nodes`));
  });

  it('!reset removes and !override replaces what a later file or a fragment gives', async () => {
    const base = write('reset-base.yml', 'services:\n  web:\n    image: x\n    ports: ["8080:80"]\n    environment: { A: "1", B: "2" }\n    dns: [1.1.1.1]\n');
    const over = write('reset-over.yml', 'services:\n  web:\n    ports: !reset []\n    environment: !override { C: "3" }\n    dns: !reset null\n');
    const r = await importCompose([base, over], { projectName: 'p', env: {} });
    const web = byName(r.resources, 'p_web_1');
    expect(web.ports).toBeUndefined();
    expect(web.dns).toBeUndefined();
    expect(web.environment).toEqual({ C: '3' });
  });

  it('extends, in the same file and from another file, with the extending service winning', async () => {
    write('ext-common.yml', 'services:\n  base:\n    image: common\n    environment: { FROM: common, LEVEL: "1" }\n    volumes: ["./data:/data"]\n');
    const f = write(
      'ext.yml',
      'services:\n  mid:\n    extends: { file: ext-common.yml, service: base }\n    environment: { LEVEL: "2" }\n  app:\n    extends: mid\n    image: app\n',
    );
    const r = await importCompose([f], { projectName: 'p', env: {} });
    expect(byName(r.resources, 'p_app_1')).toMatchObject({
      image: 'app',
      environment: { FROM: 'common', LEVEL: '2' },
      mounts: [{ type: 'bind', source: path.join(dir, 'data'), target: '/data' }],
    });
    const cyc = write('ext-cycle.yml', 'services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: y\n    extends: a\n');
    const err = await importCompose([cyc], { projectName: 'p', env: {} }).catch((e: unknown) => e as ManifestErrors);
    expect(err.errors[0]!.format()).toMatch(/extends: a cycle/);
  });

  it('include: the included project comes first, its paths relative to its own directory', async () => {
    const sub = path.join(dir, 'sub');
    (await import('node:fs')).mkdirSync(sub, { recursive: true });
    writeFileSync(path.join(sub, 'compose.yaml'), 'services:\n  db:\n    image: ${DB_IMAGE}\n    volumes: ["./dbdata:/var/lib/db"]\n');
    writeFileSync(path.join(sub, '.env'), 'DB_IMAGE=from-sub-dotenv\n'); // the included project's own .env
    const f = write('inc.yml', 'name: Inc-Project\ninclude:\n  - sub/compose.yaml\nservices:\n  app:\n    image: app\n    depends_on: [db]\n');
    const r = await importCompose([f], { env: {} });
    expect(r.project).toBe('inc-project');
    expect(byName(r.resources, 'inc-project_db_1')).toMatchObject({
      image: 'from-sub-dotenv',
      mounts: [{ type: 'bind', source: path.join(sub, 'dbdata'), target: '/var/lib/db' }],
    });
    // project_directory and env_file of the entry; the shell still wins
    writeFileSync(path.join(dir, 'other.env'), 'DB_IMAGE=from-entry\n');
    const g = write('inc2.yml', 'include:\n  - path: sub/compose.yaml\n    project_directory: .\n    env_file: other.env\nservices: {}\n');
    const r2 = await importCompose([g], { projectName: 'q', env: {} });
    expect(byName(r2.resources, 'q_db_1')).toMatchObject({
      image: 'from-entry',
      mounts: [{ type: 'bind', source: path.join(dir, 'dbdata'), target: '/var/lib/db' }],
    });
    const r3 = await importCompose([g], { projectName: 'q', env: { DB_IMAGE: 'from-shell' } });
    expect(byName(r3.resources, 'q_db_1').image).toBe('from-shell');
    expect(byName(r.resources, 'inc-project_app_1')).toMatchObject({ require: ['docker.container[inc-project_db_1]'] });
  });
});

describe('knock-on effects of what is not carried over', () => {
  it("a dropped static address names who used it (pihole used cloudflared's address in PIHOLE_DNS_)", async () => {
    const d = path.join(FIX, 'awesome-pihole-cloudflared-DoH');
    const r = await importCompose([path.join(d, 'compose.yaml'), path.join(d, 'doh-profile.override.yaml')], { projectName: 'p', env: {} });
    expect(r.warnings.map(formatWarning)).toContain(
      `${path.join(d, 'compose.yaml')}:16:9: services.cloudflared.networks.dns-net.ipv4_address: the address 172.20.0.2 is not carried over: service cloudflared is not in the import (its profile is not active). ` +
        `Knock-on: used by services.pihole.environment.PIHOLE_DNS_ (${path.join(d, 'compose.yaml')}:29:9)`,
    );
    const all = await importCompose([path.join(d, 'compose.yaml'), path.join(d, 'doh-profile.override.yaml')], {
      projectName: 'p',
      env: {},
      profiles: ['doh'],
    });
    expect(all.warnings.filter((w) => w.message.includes('Knock-on'))).toEqual([]); // with the profile, nothing is dropped
  });

  it('an address in a dropped second subnet, and a network left for network_mode, name their users', async () => {
    const f = write(
      'knock.yml',
      [
        'services:',
        '  dns:',
        '    image: x',
        '    networks:',
        '      lan: { ipv4_address: 10.99.1.53 }',
        '  app:',
        '    image: y',
        '    dns: [10.99.1.53]',
        '    networks: [lan]',
        '  edge:',
        '    image: z',
        '    network_mode: host',
        '    networks: [lan]',
        '  web:',
        '    image: w',
        '    environment: { UPSTREAM: "http://edge:8080" }',
        '    networks: [lan]',
        'networks:',
        '  lan:',
        '    ipam:',
        '      config:',
        '        - subnet: 10.99.0.0/24',
        '        - subnet: 10.99.1.0/24',
        '',
      ].join('\n'),
    );
    const r = await importCompose([f], { projectName: 'p', env: {} });
    const lines = r.warnings.map(formatWarning);
    expect(lines).toContain(
      `${f}:5:14: services.dns.networks.lan.ipv4_address: the address 10.99.1.53 is not carried over: it lies in a second IPv4 subnet of network lan, which is dropped (only 10.99.0.0/24 is declared). Knock-on: used by services.app.dns.0 (${f}:8:11)`,
    );
    expect(byName(r.resources, 'p_dns_1').networks).toEqual([{ name: 'p_lan', aliases: ['dns'] }]); // the address is not declared: the engine would refuse it
    expect(lines).toContain(
      `${f}:13:16: services.edge.networks.lan: network lan is dropped for this service (network_mode host): it is no longer reachable there as edge. Knock-on: used by services.web.environment.UPSTREAM (${f}:16:20)`,
    );
  });
});

describe('docs/compose.md', () => {
  it('has a row for every key of the vendored Compose Specification', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(fileURLToPath(new URL('../../docs/compose.md', import.meta.url)), 'utf8');
    const spec = JSON.parse(readFileSync(fileURLToPath(new URL('../../spec/vendor/compose-spec.json', import.meta.url)), 'utf8')) as any;
    const d = spec.definitions;
    const keys = [
      ...Object.keys(spec.properties),
      ...Object.keys(d.service.properties).map((k) => `services.*.${k}`),
      ...Object.keys(d.network.properties).map((k) => `networks.*.${k}`),
      ...Object.keys(d.volume.properties).map((k) => `volumes.*.${k}`),
      ...Object.keys(d.secret.properties).map((k) => `secrets.*.${k}`),
      ...Object.keys(d.config.properties).map((k) => `configs.*.${k}`),
    ];
    expect(keys.length).toBeGreaterThan(120);
    expect(keys.filter((k) => !doc.includes(`| \`${k}\` |`))).toEqual([]);
  });
});

describe('flagged, not passed silently', () => {
  it('develop, Swarm-only deploy keys, overlay networks and Swarm templates', async () => {
    const f = write(
      'swarm.yml',
      [
        'services:',
        '  web:',
        '    image: x',
        '    hostname: "web-{{.Task.Slot}}"',
        '    develop:',
        '      watch:',
        '        - { action: sync, path: ./src, target: /src }',
        '    deploy:',
        '      replicas: 3',
        '      restart_policy: { condition: on-failure, max_attempts: 2 }',
        '    networks: [mesh]',
        'networks:',
        '  mesh:',
        '    driver: overlay',
        '',
      ].join('\n'),
    );
    const r = await importCompose([f], { projectName: 'p', env: {} });
    const lines = r.warnings.map(formatWarning);
    expect(lines).toContain(`${f}:5:5: services.web.develop: Compose-only (files watched and synced while developing): nothing a host runs; ignored`);
    expect(lines.some((l) => l.startsWith(`${f}:9:7: services.web.deploy.replicas: Swarm-only`))).toBe(true);
    expect(lines.some((l) => l.startsWith(`${f}:14:5: networks.mesh.driver: overlay is a Swarm driver`))).toBe(true);
    expect(lines.some((l) => l.startsWith(`${f}:4:5: services.web.hostname: {{.Task.Slot}} is a Swarm template`))).toBe(true);
    expect(byName(r.resources, 'p_web_1').restart).toBe('on-failure:2');
    expect(byName(r.resources, 'p_mesh').driver).toBeUndefined();
  });
});
