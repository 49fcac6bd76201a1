/**
 * The small Engine API client of the read path (src/providers/docker/engine-api.ts)
 * against the real engine: the same answers as the docker CLI, dockerode's error fields,
 * and the Docker client proxy reading without loading dockerode.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineApi, engineSocket } from '../../src/providers/docker/engine-api.js';
import { createDockerClient } from '../../src/providers/docker/client.js';
import { createSandbox, docker, requireDocker, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
beforeAll(() => {
  requireDocker();
  sb = createSandbox('hf-api');
  docker('run', '-d', '--name', `${sb.prefix}-c`, '--label', sb.label, 'local/busybox:1', 'sleep', '100000');
});
afterAll(() => sb?.cleanup());

describe('engine API read client', () => {
  const api = createEngineApi(engineSocket({})!);

  it('DOCKER_HOST: unix sockets are read directly, other transports are not', () => {
    expect(engineSocket({})).toBe('/var/run/docker.sock');
    expect(engineSocket({ DOCKER_HOST: 'unix:///run/other.sock' })).toBe('/run/other.sock');
    expect(engineSocket({ DOCKER_HOST: 'tcp://10.0.0.1:2376' })).toBeUndefined();
    expect(engineSocket({ DOCKER_HOST: 'ssh://host' })).toBeUndefined();
  });

  it('ping, list and inspect answer like the docker CLI', async () => {
    expect(await api.ping()).toBe('OK');
    const list = (await api.listContainers({ all: true, filters: { label: [sb.label] } })) as { Id: string; Names: string[] }[];
    expect(list.map((c) => c.Names[0])).toEqual([`/${sb.prefix}-c`]);
    expect(list[0]!.Id).toBe(docker('inspect', '--format', '{{.Id}}', `${sb.prefix}-c`));
    const info = (await api.inspectContainer(`${sb.prefix}-c`)) as { Config: { Image: string }; State: { Running: boolean } };
    expect(info.Config.Image).toBe('local/busybox:1');
    expect(info.State.Running).toBe(true);
    const image = (await api.inspectImage('local/busybox:1')) as { Id: string };
    expect(image.Id).toBe(docker('image', 'inspect', '--format', '{{.Id}}', 'local/busybox:1'));
    const images = (await api.listImages()) as { Id: string }[];
    expect(images.some((i) => i.Id === image.Id)).toBe(true);
  });

  it("a missing object is a 404 with the engine's message, as dockerode reports it", async () => {
    const err = (await api.inspectContainer(`${sb.prefix}-nope`).catch((e: unknown) => e)) as { statusCode?: number; json?: { message?: string } };
    expect(err.statusCode).toBe(404);
    expect(err.json?.message).toMatch(/No such container/);
  });

  it('an unreachable socket fails with the socket error code', async () => {
    const err = (await createEngineApi('/nonexistent/docker.sock')
      .ping()
      .catch((e: unknown) => e)) as { code?: string };
    expect(err.code).toBe('ENOENT');
  });

  it('the Docker client proxy reads through it without dockerode, and refuses writes before dockerode is loaded', async () => {
    const client = createDockerClient();
    expect((client as unknown as { then?: unknown }).then).toBeUndefined();
    const c = (await client.getContainer(`${sb.prefix}-c`).inspect()) as { Name: string };
    expect(c.Name).toBe(`/${sb.prefix}-c`);
    expect(() => client.createVolume({ Name: `${sb.prefix}-v` })).toThrow(/dockerode used before loadDockerode/);
  });
});
