/**
 * The real Docker engine's refusals:
 * - bad input the engine rejects with HTTP 400 (an image reference it cannot parse, a
 *   port out of range, a relative bind source) is terminal: tried once, never retried,
 *   with a hint that says what to fix. The engine is driven directly (a catalogue built
 *   by hand), so schema checks in front of it do not hide what the engine says.
 * - a network replace the engine refuses (the new subnet overlaps another network) leaves
 *   the old network with its containers attached, aliases and all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomInt } from 'node:crypto';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { Catalogue, CatalogueResource } from '../../src/core/types.js';
import { createProviderRegistry } from '../../src/providers/container.js';
import { runCatalogue } from '../../src/engine/run.js';
import { createFacts } from '../../src/facts/facts.js';
import { createSandbox, docker, requireDocker, runCli, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
beforeAll(() => {
  requireDocker();
  sb = createSandbox('hr-docker');
});
afterAll(() => sb?.cleanup());

function handCatalogue(list: { kind: string; name: string; attrs: Record<string, unknown> }[]): Catalogue {
  const resources: CatalogueResource[] = list.map((r) => ({
    ...r,
    id: `${r.kind}[${r.name}]`,
    sensitive: [],
    relations: { require: [], before: [], notify: [], subscribe: [] },
    locate: () => ({ file: 'hand-built' }),
  }));
  return { version: 'hand-built', resources, byId: new Map(resources.map((r) => [r.id, r])) };
}

function capturingLogger(): { log: winston.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return {
    log: winston.createLogger({
      level: 'debug',
      format: winston.format.printf((i) => `${i.level}: ${String(i.message)}`),
      transports: [new winston.transports.Stream({ stream })],
    }),
    lines,
  };
}

describe('engine rejections of bad input are terminal', () => {
  it.each([
    ['an image reference the engine cannot parse', { image: 'Local/BusyBox:1' }, /invalid reference format/, /fix the image reference/],
    ['a port out of range', { image: 'local/busybox:1', ports: ['127.0.0.1:99999:80'] }, /invalid port/, /fix the port/],
    ['a container port out of range', { image: 'local/busybox:1', ports: ['127.0.0.1:18099:70000'] }, /invalid port|port/i, /fix the port/],
  ])('%s: tried once, not retried, the hint says what to fix', async (_name, attrs, message, hint) => {
    const name = `${sb.prefix}-bad-${randomInt(1e6)}`;
    const { log, lines } = capturingLogger();
    const report = await runCatalogue(
      handCatalogue([{ kind: 'docker.container', name, attrs: { ...attrs, labels: { 'tsconverge-test': sb.id } } }]),
      createProviderRegistry(),
      {
        noop: false,
        root: sb.root,
        log,
        facts: await createFacts(sb.root),
        retries: 3,
        retryDelayMs: () => 1,
      },
    );
    const r = report.resources[0]!;
    expect(r.status).toBe('failed');
    expect(r.error).toMatchObject({ code: 'INVALID_VALUE', message: expect.stringMatching(message), hint: expect.stringMatching(hint) });
    expect(r.error!.hint).not.toMatch(/check the registry|reachable/);
    expect(lines.filter((l) => /retrying/.test(l))).toEqual([]);
    expect(docker('ps', '-aq', '--filter', `name=${name}`)).toBe('');
  });
});

describe('a refused network replace keeps the old network and its containers', () => {
  it('the new subnet overlaps another network: old network, container, alias all still there', async () => {
    const a = randomInt(100, 250);
    const b = randomInt(0, 250);
    const ours = `10.${a}.${b}.0/24`;
    const taken = `10.${a}.${b + 1 > 250 ? 0 : b + 1}.0/24`;
    const net = `${sb.prefix}-net-${randomInt(1e6)}`;
    const blocker = `${net}-blocker`;
    const ctr = `${net}-c`;
    docker('network', 'create', '--label', sb.label, '--subnet', taken, blocker);
    const manifest = (subnet: string): string => `resources:
  - { kind: docker.network, name: ${net}, subnet: "${subnet}", labels: { tsconverge-test: "${sb.id}" } }
  - kind: docker.container
    name: ${ctr}
    image: local/busybox:1
    command: [sleep, "3600"]
    networks: [{ name: ${net}, aliases: [db] }]
    labels: { tsconverge-test: "${sb.id}" }
`;
    const m = sb.write('net/m.yaml', manifest(ours));
    const first = await runCli(['apply', m, '--root', sb.root]);
    expect(first.code, first.stderr).toBe(2);
    const idBefore = docker('inspect', '--format', '{{.Id}}', ctr);

    sb.write('net/m.yaml', manifest(taken));
    const refused = await runCli(['apply', m, '--root', sb.root, '--format', 'json']);
    expect(refused.code, refused.stderr).toBe(4);
    expect(refused.json.resources.find((r: { kind: string }) => r.kind === 'docker.network')).toMatchObject({ status: 'failed', action: 'replace' });

    expect(docker('network', 'inspect', '--format', '{{(index .IPAM.Config 0).Subnet}}', net)).toBe(ours);
    const attached = JSON.parse(docker('inspect', '--format', `{{json (index .NetworkSettings.Networks "${net}")}}`, ctr)) as {
      Aliases: string[] | null;
    } | null;
    expect(attached).not.toBeNull();
    expect(attached!.Aliases).toContain('db');
    expect(docker('inspect', '--format', '{{.Id}} {{.State.Status}}', ctr)).toBe(`${idBefore} running`);
  }, 90_000);
});
