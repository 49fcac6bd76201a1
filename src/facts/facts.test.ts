import { describe, expect, it } from 'vitest';
import { createFacts, defaultDockerSocket, networkFacts, parseOsRelease, readDockerFacts } from './facts.js';

describe('facts', () => {
  it.each([
    [
      'NAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\nVERSION_CODENAME=bookworm\n',
      { NAME: 'Debian GNU/Linux', VERSION_ID: '12', ID: 'debian', VERSION_CODENAME: 'bookworm' },
    ],
    ["PRETTY_NAME='Alpine Linux v3.19'\n# comment\n", { PRETTY_NAME: 'Alpine Linux v3.19' }],
  ])('parses os-release %#', (text, out) => {
    expect(parseOsRelease(text)).toEqual(out);
  });

  it.each([
    [{}, '/var/run/docker.sock'],
    [{ DOCKER_HOST: 'unix:///tmp/d.sock' }, '/tmp/d.sock'],
    [{ DOCKER_HOST: 'tcp://1.2.3.4:2375' }, '/var/run/docker.sock'],
  ])('docker socket from %j', (env, sock) => {
    expect(defaultDockerSocket(env)).toBe(sock);
  });

  it('describes interfaces with families and prefixes', () => {
    expect(
      networkFacts({ lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }] }),
    ).toEqual({ lo: { mac: '00:00:00:00:00:00', internal: true, addresses: [{ family: 'IPv4', address: '127.0.0.1', cidr: '127.0.0.1/8' }] } });
  });

  it('gathers without Docker unless asked; an unreachable engine is null, not an error', async () => {
    const f = await createFacts('/');
    expect(f.docker).toBeUndefined();
    expect(f.cpus).toBeGreaterThan(0);
    expect(typeof f.systemd).toBe('boolean');
    expect(await readDockerFacts('/nonexistent/docker.sock', 500)).toBeNull();
  });

  it('reads the Docker version from the real engine when asked', async () => {
    const f = await createFacts('/', { docker: true });
    expect(f.docker?.version).toMatch(/^\d+\.\d+/);
    expect(f.docker?.apiVersion).toMatch(/^1\.\d+$/);
  });
});
