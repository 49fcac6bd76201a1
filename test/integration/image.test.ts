/**
 * docker.image against a real registry on loopback (Debian's docker-registry, started by
 * scripts/setup.sh) with real digests: timeline, errors inside the pull stream, and an
 * upgrade by digest that replaces the container using it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { containerInfo, createSandbox, docker, REGISTRY, requireDocker, runCli, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
const digestOf = (tag: string): string => {
  const headers = execFileSync(
    'curl',
    ['-fsSI', '-H', 'Accept: application/vnd.docker.distribution.manifest.v2+json', `http://${REGISTRY}/v2/busybox/manifests/${tag}`],
    { encoding: 'utf8' },
  );
  return /docker-content-digest:\s*(\S+)/i.exec(headers)![1]!;
};
const removeRegistryImages = (): void => {
  const refs = docker('images', '--format', '{{.Repository}}:{{.Tag}}', `${REGISTRY}/busybox`).split('\n').filter(Boolean);
  const digests = docker('images', '--digests', '--format', '{{.Repository}}@{{.Digest}}', `${REGISTRY}/busybox`)
    .split('\n')
    .filter((l) => l && !l.endsWith('@<none>'));
  for (const r of [...refs.filter((r) => !r.endsWith(':<none>')), ...digests]) {
    try {
      docker('rmi', r);
    } catch {
      /* in use or gone */
    }
  }
};

beforeAll(() => {
  requireDocker();
  sb = createSandbox('img');
  removeRegistryImages();
});
afterAll(() => {
  sb?.cleanup();
  removeRegistryImages();
});

describe('docker.image', () => {
  it('timeline by digest: pull -> nothing -> removed by hand (noop reports, pulls nothing) -> pulled again', async () => {
    const ref = `${REGISTRY}/busybox@${digestOf('1')}`;
    const m = sb.manifest(`resources:\n  - kind: docker.image\n    name: ${ref}\n`);
    const first = await runCli(['apply', m]);
    expect(first.code, first.stdout + first.stderr).toBe(2);
    expect(docker('images', '--digests', '--format', '{{.Digest}}', `${REGISTRY}/busybox`)).toContain(digestOf('1'));
    expect((await runCli(['apply', m])).code).toBe(0);
    docker('rmi', ref);
    const noop = await runCli(['plan', m]);
    expect(noop.code).toBe(2);
    expect(noop.stdout).toContain(`+ docker.image[${ref}]`);
    expect(docker('images', '-q', `${REGISTRY}/busybox`)).toBe('');
    expect((await runCli(['apply', m])).code).toBe(2);
    expect((await runCli(['apply', m])).code).toBe(0);
  });

  it('errors inside the pull stream are errors: unknown tag, unreachable registry', async () => {
    const m = sb.manifest(
      `resources:\n  - kind: docker.image\n    name: ${REGISTRY}/busybox:no-such-tag\n  - kind: docker.image\n    name: 127.0.0.1:5999/busybox:1\n    pullTimeout: 20\n`,
    );
    const res = await runCli(['apply', m, '--format', 'json']);
    expect(res.code).toBe(4);
    const [unknown, unreachable] = res.json.resources;
    expect(unknown.error.code).toBe('IMAGE_NOT_FOUND');
    expect(unknown.error.message).toContain('no-such-tag');
    expect(unreachable.error.code).toBe('IMAGE_PULL_FAILED');
    expect(unreachable.error.hint).toMatch(/registry/);
  });

  it('a new digest pulls the new version and replaces the container running the old one', async () => {
    const [d1, d2] = [digestOf('1'), digestOf('2')];
    const manifest = (d: string): string => `
resources:
  - kind: docker.image
    name: ${REGISTRY}/busybox@${d}
  - kind: docker.container
    name: ${sb.prefix}-up
    image: ${REGISTRY}/busybox@${d}
    command: [sleep, "100000"]
    labels: { tsconverge-test: ${sb.id} }
    stopTimeout: 1
`;
    const m = sb.manifest(manifest(d1));
    const up = await runCli(['apply', m]);
    expect(up.code, up.stdout + up.stderr).toBe(2);
    expect(docker('exec', `${sb.prefix}-up`, 'cat', '/VERSION')).toBe('v1');
    const old = containerInfo(`${sb.prefix}-up`);
    sb.manifest(manifest(d2));
    const plan = await runCli(['plan', m]);
    expect(plan.stdout).toContain(`+ docker.image[${REGISTRY}/busybox@${d2}]`);
    const res = await runCli(['apply', m, '--format', 'json']);
    expect(res.code, res.stdout).toBe(2);
    expect(containerInfo(`${sb.prefix}-up`).id).not.toBe(old.id);
    expect(docker('exec', `${sb.prefix}-up`, 'cat', '/VERSION')).toBe('v2');
    expect((await runCli(['apply', m])).code).toBe(0);

    // Removing an image a container uses is refused with a clear error.
    sb.manifest(
      manifest(d2)
        .replace(
          `    name: ${REGISTRY}/busybox@${d2}\n  - kind: docker.container`,
          `    name: ${REGISTRY}/busybox@${d2}\n    ensure: absent\n  - kind: docker.container`,
        )
        .replace('    name: ' + `${sb.prefix}-up`, `    name: ${sb.prefix}-up`),
    );
    const refused = await runCli(['apply', m, '--format', 'json']);
    expect(refused.code).toBe(4);
    expect(refused.json.resources.find((r: any) => r.kind === 'docker.image').error.code).toBe('IMAGE_IN_USE');
  });
});
