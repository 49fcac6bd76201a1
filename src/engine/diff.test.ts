import { describe, expect, it } from 'vitest';
import { createSchemaRegistry } from '../spec/schemas.js';
import { planResource, SENSITIVE } from './diff.js';

const spec = createSchemaRegistry().kinds.get('docker.container');

describe('planResource', () => {
  it.each([
    ['absent, wanted', { ensure: 'running' }, null, false, 'create', []],
    ['equal', { ensure: 'running', environment: { A: '1' } }, { ensure: 'running', environment: { A: '1' } }, false, 'none', []],
    ['update in place', { restart: 'always' }, { restart: 'no' }, false, 'update', []],
    [
      'replace forced by environment',
      { environment: { A: '2' }, restart: 'always' },
      { environment: { A: '1' }, restart: 'no' },
      false,
      'replace',
      ['environment'],
    ],
    ['delete', { ensure: 'running' }, { ensure: 'running' }, true, 'delete', []],
    ['already absent', { ensure: 'running' }, null, true, 'none', []],
  ])('%s', (_name, desired, actual, absent, action, forcedBy) => {
    const plan = planResource(desired as never, actual as never, absent, spec, []);
    expect(plan.action).toBe(action);
    expect(plan.forcedBy).toEqual(forcedBy);
  });

  it('reports a map change per key and a list change as a whole', () => {
    const plan = planResource(
      { environment: { A: '1', B: '2' }, ports: ['::80/tcp', '::81/tcp'] },
      { environment: { A: '1', B: '3', C: '4' }, ports: ['::80/tcp'] },
      false,
      spec,
      [],
    );
    expect(plan.changes.map((c) => [c.path, c.from, c.to])).toEqual(
      expect.arrayContaining([
        ['/environment/B', '3', '2'],
        ['/environment/C', '4', undefined],
        ['/ports', ['::80/tcp'], ['::80/tcp', '::81/tcp']],
      ]),
    );
    expect(plan.changes).toHaveLength(3);
  });

  it('masks sensitive values', () => {
    const plan = planResource({ content: 'new-secret' }, { content: 'old-secret' }, false, undefined, ['content']);
    expect(plan.changes[0]).toMatchObject({ from: SENSITIVE, to: SENSITIVE, sensitive: true });
    expect(JSON.stringify(plan)).not.toContain('secret"');
  });

  it.each([
    [
      'one map key changed',
      { environment: { A: '1', DB_PASSWORD: 'new-pw' } },
      { environment: { A: '1', DB_PASSWORD: 'old-pw' } },
      [['/environment/DB_PASSWORD', SENSITIVE, SENSITIVE, true]],
    ],
    [
      'map created: other keys shown',
      { environment: { A: '1', DB_PASSWORD: 'new-pw' } },
      null,
      [['/environment', undefined, { A: '1', DB_PASSWORD: SENSITIVE }, true]],
    ],
    [
      'other key changed: shown',
      { environment: { A: '2', DB_PASSWORD: 'new-pw' } },
      { environment: { A: '1', DB_PASSWORD: 'new-pw' } },
      [['/environment/A', '1', '2', false]],
    ],
    [
      'sensitive key removed',
      { environment: { A: '1' } },
      { environment: { A: '1', DB_PASSWORD: 'old-pw' } },
      [['/environment/DB_PASSWORD', SENSITIVE, undefined, true]],
    ],
    [
      'deeper map',
      { logging: { options: { token: 'new-pw', 'max-size': '1m' } } },
      { logging: { options: { token: 'old-pw', 'max-size': '1m' } } },
      [['/logging/options', { token: SENSITIVE, 'max-size': '1m' }, { token: SENSITIVE, 'max-size': '1m' }, true]],
    ],
  ])('masks one sensitive map key by JSON pointer: %s', (_name, desired, actual, expected) => {
    const plan = planResource(desired as never, actual as never, false, spec, ['/environment/DB_PASSWORD', '/logging/options/token']);
    expect(plan.changes.map((c) => [c.path, c.from, c.to, c.sensitive])).toEqual(expected);
    expect(JSON.stringify(plan)).not.toContain('-pw');
  });
});
