import { describe, expect, it } from 'vitest';
import { describeDrift, fingerprint } from './applied-hashes.js';
import type { ResourcePlan } from '../providers/types.js';

const desired = { image: 'busybox', environment: { FOO: '1', SECRET: 'x' }, memory: '64m' };
const change = (path: string): ResourcePlan['changes'][number] => ({ path, attribute: path.split('/')[1]!, effect: 'replace', sensitive: false });
const plan = (action: ResourcePlan['action'], ...paths: string[]): ResourcePlan => ({ action, changes: paths.map(change), forcedBy: [], refresh: false });

describe('drift wording', () => {
  const last = fingerprint(desired, ['/environment/SECRET']);
  it('stores no hash of sensitive values', () => {
    expect(Object.keys(last).sort()).toEqual(['/environment/FOO', '/image', '/memory']);
  });
  it.each([
    ['removed by hand', plan('create'), desired, 'removed outside tsconverge'],
    ['env edited by hand', plan('replace', '/environment/FOO'), desired, 'changed outside tsconverge: environment FOO'],
    ['declaration changed', plan('replace', '/environment/FOO'), { ...desired, environment: { FOO: '2', SECRET: 'x' } }, undefined],
    ['memory edited by hand', plan('update', '/memory'), desired, 'changed outside tsconverge: memory'],
    ['nothing to do', plan('none'), desired, undefined],
  ])('%s', (_n, p, d, want) => {
    expect(describeDrift(p, d, last, ['/environment/SECRET'])).toBe(want);
  });
  it('says nothing without a last applied state', () => {
    expect(describeDrift(plan('create'), desired, undefined, [])).toBeUndefined();
  });
});
