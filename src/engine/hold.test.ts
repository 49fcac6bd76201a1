import { describe, expect, it } from 'vitest';
import { holdReplace } from './hold.js';
import type { Resource, ResourcePlan } from '../providers/types.js';

const res = (attrs: Record<string, unknown>): Resource => ({ kind: 'docker.container', name: 'db', id: 'docker.container[db]', attrs, sensitive: [] });
const replace: ResourcePlan = {
  action: 'replace',
  changes: [{ path: '/labels/tier', attribute: 'labels', effect: 'replace', sensitive: false }],
  forcedBy: ['labels'],
  refresh: false,
};
const update: ResourcePlan = { action: 'update', changes: [], forcedBy: [], refresh: false };
const drift = ['/labels/tier'];
const other = ['/networks'];

describe('holdReplace', () => {
  it.each([
    ['not stateful', {}, replace, [], false, false],
    ['stateful, declared change', { stateful: true }, replace, [], false, true],
    ['stateful, allowed', { stateful: true }, replace, [], true, false],
    ['stateful, in place', { stateful: true }, update, [], false, false],
    ['stateful, declared replace beside in-place drift, onDrift fix', { stateful: true, onDrift: 'fix' }, replace, other, false, true],
    ['stateful drift, onDrift fix', { stateful: true, onDrift: 'fix' }, replace, drift, false, false],
    ['stateful drift, onDrift warn', { stateful: true, onDrift: 'warn' }, replace, drift, false, true],
    ['stateful declared change, onDrift fix', { stateful: true, onDrift: 'fix' }, replace, [], false, true],
  ])('%s', (_n, attrs, plan, d, allow, held) => {
    const e = holdReplace(res(attrs), plan, d, allow);
    expect(e !== undefined).toBe(held);
    if (e) expect(e.code).toBe('REPLACE_HELD');
  });
});
