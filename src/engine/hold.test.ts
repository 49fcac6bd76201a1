import { describe, expect, it } from 'vitest';
import { holdReplace } from './hold.js';
import type { Resource, ResourcePlan } from '../providers/types.js';

const res = (attrs: Record<string, unknown>): Resource => ({ kind: 'docker.container', name: 'db', id: 'docker.container[db]', attrs, sensitive: [] });
const replace: ResourcePlan = { action: 'replace', changes: [], forcedBy: ['labels'], refresh: false };
const update: ResourcePlan = { action: 'update', changes: [], forcedBy: [], refresh: false };
const drift = 'changed outside tsconverge: labels';

describe('holdReplace', () => {
  it.each([
    ['not stateful', {}, replace, undefined, false, false],
    ['stateful, declared change', { stateful: true }, replace, undefined, false, true],
    ['stateful, allowed', { stateful: true }, replace, undefined, true, false],
    ['stateful, in place', { stateful: true }, update, undefined, false, false],
    ['stateful drift, onDrift fix', { stateful: true, onDrift: 'fix' }, replace, drift, false, false],
    ['stateful drift, onDrift warn', { stateful: true, onDrift: 'warn' }, replace, drift, false, true],
    ['stateful declared change, onDrift fix', { stateful: true, onDrift: 'fix' }, replace, undefined, false, true],
  ])('%s', (_n, attrs, plan, d, allow, held) => {
    const e = holdReplace(res(attrs), plan, d, allow);
    expect(e !== undefined).toBe(held);
    if (e) expect(e.code).toBe('REPLACE_HELD');
  });
});
