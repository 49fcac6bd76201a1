/**
 * Fast by design: a no-change run over 50 containers makes a constant number of list
 * calls plus at most one inspect per container. Counted on the wire, through a unix
 * socket proxy in front of the real engine (DOCKER_HOST points at the proxy).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import path from 'node:path';
import { createSandbox, requireDocker, runCli, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
let proxy: net.Server;
const requests: string[] = [];
let proxyPath = '';

beforeAll(async () => {
  requireDocker();
  sb = createSandbox('batch');
  proxyPath = path.join(sb.root, 'docker-proxy.sock');
  proxy = net.createServer((client) => {
    const upstream = net.connect('/var/run/docker.sock');
    client.on('data', (chunk) => {
      for (const m of chunk.toString('latin1').matchAll(/^(GET|POST|PUT|DELETE|HEAD) (\S+) HTTP\/1\.[01]\r$/gm)) requests.push(`${m[1]} ${m[2]}`);
    });
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((r) => proxy.listen(proxyPath, r));
});
afterAll(() => {
  proxy?.close();
  sb?.cleanup();
});

describe('batched reads', () => {
  it('50 containers: no-change run = constant list calls + at most one inspect per container, nothing mutating', async () => {
    const n = 50;
    const containers = Array.from(
      { length: n },
      (_, i) => `
  - kind: docker.container
    name: ${sb.prefix}-c${i}
    image: local/busybox:1
    command: [sleep, "100000"]
    environment: { A: "1", B: "${i}" }
    labels: { tsconverge-test: ${sb.id} }
    restart: unless-stopped
    stopTimeout: 1
    memory: 64m
    networks: [${sb.prefix}-net]
    mounts: [{ type: volume, source: ${sb.prefix}-v${i % 10}, target: /data }]`,
    ).join('');
    const volumes = Array.from(
      { length: 10 },
      (_, i) => `\n  - kind: docker.volume\n    name: ${sb.prefix}-v${i}\n    labels: { tsconverge-test: ${sb.id} }`,
    ).join('');
    const m = sb.manifest(
      `resources:\n  - kind: docker.network\n    name: ${sb.prefix}-net\n    labels: { tsconverge-test: ${sb.id} }${volumes}${containers}\n`,
    );
    const first = await runCli(['apply', m, '--format', 'json']);
    expect(first.code, first.stderr.slice(0, 2000)).toBe(2);
    expect(first.json.summary.changed).toBe(n + 11);

    requests.length = 0;
    const again = await runCli(['apply', m, '--format', 'json'], { DOCKER_HOST: `unix://${proxyPath}` });
    expect(again.code, again.stderr.slice(0, 2000)).toBe(0);
    const strip = (r: string): string => r.replace(/^(\w+) \/v[0-9.]+/, '$1 ').replace(/\?.*$/, '');
    const calls = requests.map(strip);
    const lists = calls.filter((c) => /^GET \/(containers|images|networks|volumes)\/json$|^GET \/volumes$|^GET \/networks$/.test(c));
    const inspects = calls.filter((c) => /^GET \/containers\/[^/]+\/json$/.test(c) && c !== 'GET /containers/json');
    const mutating = calls.filter((c) => !c.startsWith('GET ') && !c.startsWith('HEAD '));
    expect(mutating).toEqual([]);
    expect(inspects.length).toBe(n); // one each, and proof the proxy saw the traffic
    expect(lists.length).toBeGreaterThanOrEqual(4); // containers, images, networks, volumes
    expect(lists.length).toBeLessThanOrEqual(6);
    // One ping, shared by the kinds that ask at once (client.ts dockerUnsuitable).
    expect(calls.filter((c) => c === 'GET /_ping' || c === 'HEAD /_ping')).toHaveLength(1);
    // Everything else: image config lookups per distinct image.
    expect(calls.length).toBeLessThanOrEqual(n + 10);
  });

  it('one container changed: the second read after its apply inspects that container, not every container again', async () => {
    const m = path.join(sb.dir, 'manifest.yaml');
    const { readFileSync, writeFileSync } = await import('node:fs');
    writeFileSync(m, readFileSync(m, 'utf8').replace('B: "0"', 'B: "changed"'));
    requests.length = 0;
    const r = await runCli(['apply', m, '--format', 'json'], { DOCKER_HOST: `unix://${proxyPath}` });
    expect(r.code, r.stderr.slice(0, 2000)).toBe(2);
    expect(r.json.summary.changed).toBe(1);
    const calls = requests.map((c) => c.replace(/^(\w+) \/v[0-9.]+/, '$1 ').replace(/\?.*$/, ''));
    expect(calls.filter((c) => c === 'GET /containers/json')).toHaveLength(1); // the batch read before planning, no list after the apply
    const c0 = calls.filter((c) => c.startsWith(`GET /containers/${sb.prefix}-c0`) && c.endsWith('/json'));
    expect(c0.length).toBeGreaterThanOrEqual(1); // the read after the apply, by name
    const otherInspects = calls.filter((c) => /^GET \/containers\/[^/]+\/json$/.test(c) && c !== 'GET /containers/json' && !c.includes(`${sb.prefix}-c0`));
    expect(otherInspects.length).toBeLessThanOrEqual(50); // the batch read's inspects (by id), none again after the apply
  });
});
