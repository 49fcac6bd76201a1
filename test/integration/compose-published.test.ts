/**
 * Published Compose files (issue 28) converge on the real engine: the awesome-compose
 * pihole + cloudflared DoH stack (a static address on a declared subnet, cap_add,
 * depends_on) and plex (network_mode: host). Their images are the local busybox build,
 * retagged under the published names for the test (no registry here) and removed after;
 * a test override (!reset, !override) drops published ports and moves the subnet. Import,
 * apply, then plan clean and noop changes nothing. Names carry i28-.
 */
import { mkdtempSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, docker, REPO, requireDocker, runCli, type Sandbox } from '../support/harness.js';

const FIX = path.join(REPO, 'test/fixtures/compose');
const IMAGES = ['visibilityspots/cloudflared:latest', 'pihole/pihole:latest', 'linuxserver/plex:latest'];
let sb: Sandbox;
let p: string;
const retagged: string[] = [];
beforeAll(() => {
  requireDocker();
  sb = createSandbox('i28pub');
  p = `i28-${sb.id}`;
  for (const img of IMAGES) {
    try {
      docker('image', 'inspect', img);
    } catch {
      docker('tag', 'local/busybox:1', img);
      retagged.push(img);
    }
  }
});
afterAll(() => {
  try {
    const cs = docker('ps', '-aq', '--filter', `name=${p}`).split('\n').filter(Boolean);
    if (cs.length) docker('rm', '-f', ...cs);
    for (const n of docker('network', 'ls', '-q', '--filter', `name=${p}`).split('\n').filter(Boolean)) {
      try {
        docker('network', 'rm', n);
      } catch {
        /* engine quirk */
      }
    }
    if (retagged.length) docker('rmi', ...retagged); // only the tags this test made
  } finally {
    sb?.cleanup();
  }
});

async function converge(files: string[], env: Record<string, string>, project: string): Promise<string> {
  const out = sb.write(`${project}.yaml`, '');
  const imp = await runCli(['import', 'compose', ...files, '-p', project, '-o', out], env);
  expect(imp.code, imp.stderr).toBe(0);
  const apply = await runCli(['apply', out, '--format', 'json'], env);
  expect(apply.code, apply.stdout + apply.stderr).toBe(2);
  expect(apply.json.summary.failed).toBe(0);
  const plan = await runCli(['plan', out], env);
  expect(plan.code, plan.stdout).toBe(0);
  const noop = await runCli(['apply', out, '--noop'], env);
  expect(noop.code, noop.stdout).toBe(0);
  return out;
}

describe('published Compose files converge and then plan clean', () => {
  it('awesome-compose pihole + cloudflared: the static address on the declared subnet', async () => {
    const net = `10.228.${randomInt(1, 250)}`;
    const d = path.join(FIX, 'awesome-pihole-cloudflared-DoH');
    const env = { I28_PREFIX: p, I28_NET: net, TIMEZONE: 'UTC' };
    await converge([path.join(d, 'compose.yaml'), path.join(d, 'test.override.yaml')], env, `${p}-dns`);
    const cf = JSON.parse(docker('inspect', `${p}-cloudflared`))[0];
    expect(cf.NetworkSettings.Networks[`${p}-dns_dns-net`].IPAddress).toBe(`${net}.2`);
    expect(cf.HostConfig.PortBindings ?? {}).toEqual({}); // !reset took the published ports away
    const ph = JSON.parse(docker('inspect', `${p}-pihole`))[0];
    expect(ph.HostConfig.CapAdd).toEqual(['CAP_NET_ADMIN']);
    expect(ph.Config.Env).toContain('PIHOLE_DNS_=172.20.0.2#5054;1.1.1.1');
    expect(ph.Mounts.map((m: any) => m.Destination)).toEqual(['/etc/pihole']); // !override replaced the host's /etc binds
  }, 180_000);

  it('awesome-compose plex: network_mode host is the host network, not the default bridge', async () => {
    const d = path.join(FIX, 'awesome-plex');
    const media = mkdtempSync(path.join(tmpdir(), 'i28-media-'));
    const override = sb.write('plex.override.yaml', `services:\n  plex:\n    container_name: ${p}-plex\n    command: ["sleep", "100000"]\n`);
    await converge([path.join(d, 'compose.yaml'), override], { PLEX_MEDIA_PATH: media }, `${p}-plex`);
    const plex = JSON.parse(docker('inspect', `${p}-plex`))[0];
    expect(plex.HostConfig.NetworkMode).toBe('host');
    expect(Object.keys(plex.NetworkSettings.Networks)).toEqual(['host']);
  }, 180_000);
});
