/** The engine's refusals, translated: HTTP 400 is terminal bad input with a hint that says what to fix. */
import { describe, expect, it } from 'vitest';
import { badInputHint, dockerError } from './client.js';

describe('dockerError', () => {
  it.each([
    [400, 'invalid reference format: repository name must be lowercase', 'INVALID_VALUE', true, /image reference/],
    [400, 'invalid port specification: "99999"', 'INVALID_VALUE', true, /fix the port/],
    [400, 'invalid mount config for type "bind": invalid mount path: \'x\' mount path must be absolute', 'INVALID_VALUE', true, /fix the mount/],
    [400, 'something else the engine found invalid', 'INVALID_VALUE', true, /HTTP 400/],
    [409, 'Conflict. The container name is already in use', 'DOCKER_API', false, /conflict/],
    [500, 'driver failed programming external connectivity', 'DOCKER_API', false, /refused the request/],
  ])('HTTP %i "%s" -> %s (terminal %s)', (statusCode, message, code, terminal, hint) => {
    const e = dockerError(
      { statusCode, json: { message }, message: `(HTTP code ${statusCode}) unexpected - ${message}` },
      'docker.container[x]',
      'create container',
    );
    expect(e).toMatchObject({ code, terminal, resource: 'docker.container[x]' });
    expect(e.hint).toMatch(hint);
    expect(e.message).toContain(message);
    expect(e.hint).not.toMatch(/check (that )?the registry/);
  });

  it('bad-input hints never blame the registry', () => {
    for (const m of ['invalid reference format', 'invalid tag', 'port', 'mount', 'x']) expect(badInputHint(m)).not.toMatch(/registry is reachable/);
  });
});
