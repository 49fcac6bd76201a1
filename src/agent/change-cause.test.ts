import { describe, expect, it } from 'vitest';
import type { Catalogue, CatalogueResource } from '../core/types.js';
import type { ResourceReport, Status } from '../engine/report.js';
import type { Action } from '../providers/types.js';
import { classifyChanges, declaredDigest, NO_CONVERGED_DIGESTS, nextConvergedDigests, type ConvergedDigests } from './change-cause.js';
import { withCauses } from './report.js';

function res(id: string, attrs: Record<string, unknown>, notify: string[] = []): CatalogueResource {
  const [kind, name] = [id.split('[')[0]!, id.slice(id.indexOf('[') + 1, -1)];
  return { kind, name, id, attrs, sensitive: [], relations: { require: [], before: [], notify, subscribe: [] }, locate: () => ({ file: 'x' }) };
}
function catalogue(...rs: CatalogueResource[]): Catalogue {
  return { version: 'sha256:test', resources: rs, byId: new Map(rs.map((r) => [r.id, r])) };
}
function rep(id: string, action: Action, status: Status, refresh = false): ResourceReport {
  return { id, kind: id.split('[')[0]!, name: id, action, status, changes: [], forcedBy: [], refresh, durationMs: 0 };
}

const before = catalogue(res('file[a]', { content: 'v1' }), res('file[b]', { content: 'x' }), res('file[c]', { content: 'old' }));
const converged: ConvergedDigests = nextConvergedDigests(
  before,
  before.resources.map((r) => rep(r.id, 'none', 'unchanged')),
  NO_CONVERGED_DIGESTS,
);

describe('intentional or corrective', () => {
  const now = catalogue(
    res('file[a]', { content: 'v2' }),
    res('file[b]', { content: 'x' }),
    res('file[c]', { content: 'old' }),
    res('file[d]', { content: 'new' }, ['service[s]']),
    res('service[s]', { ensure: 'running' }),
  );
  it.each([
    ['declared state changed since the last applied catalogue', 'file[a]', 'update', 'changed', 'intentional'],
    ['same declared state, the host drifted', 'file[b]', 'update', 'changed', 'corrective'],
    ['a resource removed by hand and recreated', 'file[c]', 'create', 'changed', 'corrective'],
    ['a resource new in the catalogue', 'file[d]', 'create', 'changed', 'intentional'],
    ['noop pending drift', 'file[b]', 'update', 'pending', 'corrective'],
  ] as const)('%s: %s -> %s', (_why, id, action, status, cause) => {
    const causes = classifyChanges(now, [rep(id, action, status)], converged);
    expect(causes.get(id)).toBe(cause);
  });

  it("an unchanged resource has no cause; a restart takes its notifier's (as the engine recorded it)", () => {
    const causes = classifyChanges(
      now,
      [rep('file[b]', 'none', 'unchanged'), rep('file[d]', 'create', 'changed'), { ...rep('service[s]', 'none', 'changed', true), notifiedBy: ['file[d]'] }],
      converged,
    );
    expect(causes.has('file[b]')).toBe(false);
    expect(causes.get('service[s]')).toBe('intentional');
    // An automatic notification (no notify: in the catalogue, e.g. a mounted file) counts the same.
    const auto = classifyChanges(
      now,
      [rep('file[a]', 'update', 'changed'), { ...rep('service[s]', 'none', 'changed', true), notifiedBy: ['file[a]'] }],
      converged,
    );
    expect(auto.get('service[s]')).toBe('intentional');
    const drift = classifyChanges(
      now,
      [rep('file[b]', 'update', 'changed'), { ...rep('service[s]', 'none', 'changed', true), notifiedBy: ['file[b]'] }],
      converged,
    );
    expect(drift.get('service[s]')).toBe('corrective');
  });

  it('a failed or skipped change has no cause', () => {
    const causes = classifyChanges(now, [rep('file[d]', 'create', 'failed'), rep('file[a]', 'update', 'skipped')], converged);
    expect(causes.size).toBe(0);
  });

  it('with no record yet, every change is intentional', () => {
    expect(classifyChanges(now, [rep('file[b]', 'update', 'changed')], NO_CONVERGED_DIGESTS).get('file[b]')).toBe('intentional');
  });

  it('a failed resource keeps its old record, so its rollout stays intentional; removed resources are dropped', () => {
    const next = nextConvergedDigests(
      now,
      [rep('file[a]', 'update', 'failed'), rep('file[b]', 'none', 'unchanged'), rep('file[d]', 'create', 'changed')],
      converged,
    );
    expect(next.resources['file[a]']).toBe(declaredDigest({ attrs: { content: 'v1' } }));
    expect(next.resources['file[d]']).toBe(declaredDigest({ attrs: { content: 'new' } }));
    expect(next.resources['file[c]']).toBe(converged.resources['file[c]']);
    expect(nextConvergedDigests(catalogue(res('file[b]', { content: 'x' })), [rep('file[b]', 'none', 'unchanged')], next).resources).toEqual({
      'file[b]': declaredDigest({ attrs: { content: 'x' } }),
    });
    expect(classifyChanges(now, [rep('file[a]', 'update', 'changed')], next).get('file[a]')).toBe('intentional');
  });
});

describe('causes in the report', () => {
  it('only changed and pending resources carry a cause; a failed create or a skipped resource carries none and is not counted', () => {
    const now = catalogue(res('file[a]', { content: 'v2' }), res('file[new]', { content: 'x' }), res('file[b]', { content: 'x' }));
    const reports = [rep('file[a]', 'update', 'changed'), rep('file[new]', 'create', 'failed'), rep('file[b]', 'update', 'skipped')];
    const { resources, changes } = withCauses(reports, classifyChanges(now, reports, converged));
    expect(resources.map((r) => [r.id, 'cause' in r ? r.cause : undefined])).toEqual([
      ['file[a]', 'intentional'],
      ['file[new]', undefined],
      ['file[b]', undefined],
    ]);
    expect(changes).toEqual({ intentional: 1, corrective: 0 });
  });
});
