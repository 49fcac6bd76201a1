import { describe, expect, it } from 'vitest';
import { rolloutPage } from './rollout-page.js';
import type { RolloutStatus } from '../rollout.js';
import { unhealthyReason } from '../rollout.js';

const HOSTILE = `<script>alert("x")</script>' onmouseover='1' \`&`;
const FROM = `sha256:${'a'.repeat(64)}`;
const TO = `sha256:${'b'.repeat(64)}`;
const policy = {
  waves: [
    { name: 'canary', nodes: ['x*'], bakeMs: 1000 },
    { name: 'all', bakeMs: 0 },
  ],
  health: { maxFailed: 0, maxHeld: 0, maxReplaces: 0, reportWithinMs: 60_000 },
  onFailure: 'halt' as const,
};

const status: RolloutStatus = {
  stable: FROM,
  rollout: {
    id: 3,
    from: FROM,
    to: TO,
    state: 'halted',
    wave: 0,
    waveStartedAt: '2026-12-05T07:00:00.000Z',
    startedAt: '2026-12-05T07:00:00.000Z',
    updatedAt: '2026-12-05T07:01:00.000Z',
    policy,
    reason: `wave canary: ${HOSTILE}: 1 failed resource(s)`,
    waves: [
      {
        index: 0,
        name: 'canary',
        bakeMs: 1000,
        state: 'current',
        nodes: [{ node: HOSTILE, serves: 'new', status: 'failed', codeVersion: TO, lastReportAt: '2026-12-05T07:00:30.000Z' }],
      },
      { index: 1, name: 'all', bakeMs: 0, state: 'waiting', nodes: [{ node: 'web-01', serves: 'previous', status: 'unchanged', codeVersion: FROM }] },
    ],
  },
  audit: [{ id: 1, at: '2026-12-05T07:01:00.000Z', actor: `operator:${HOSTILE}`, action: 'halt', rolloutId: 3, detail: { reason: HOSTILE } }],
};

describe('the rollout page', () => {
  it('shows the rollout, its waves, their nodes and the audit trail, and escapes everything', () => {
    const page = rolloutPage(status);
    expect(page).not.toContain('<script>alert');
    expect(page).not.toContain(`'1'`);
    expect(page).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(page).toMatch(
      /Rollout 3: <code title="sha256:a+">a{12}<\/code> &rarr; <code title="sha256:b+">b{12}<\/code> <span id="rollout-state"><span class="status s-halted">halted<\/span>/,
    );
    expect(page).toMatch(/Wave 1: canary <span class="status s-current">current/);
    expect(page).toMatch(/data-node="web-01" data-serves="previous"/);
    expect(page).toContain(' (previous)');
    expect(page).toMatch(/<td>halt<\/td>/);
  });

  it('says when there is no rollout', () => {
    expect(rolloutPage({ stable: FROM, audit: [] })).toMatch(/No rollout yet/);
  });
});

describe('health of a report', () => {
  it('failed, held, replaced beyond the policy; a cached run that did not get the catalogue is not judged by its exit code', () => {
    expect(unhealthyReason({ resources: [{ id: 'file[a]', status: 'failed' }] }, policy)).toMatch(/1 failed resource\(s\): file\[a\]/);
    expect(unhealthyReason({ resources: [{ id: 'x[db]', status: 'skipped', error: { code: 'REPLACE_HELD' } }] }, policy)).toMatch(/1 held/);
    expect(unhealthyReason({ resources: [{ id: 'x[db]', status: 'changed', action: 'replace' }] }, policy)).toMatch(/1 replaced/);
    expect(
      unhealthyReason({ resources: [{ id: 'x[db]', status: 'changed', action: 'replace' }] }, { ...policy, health: { ...policy.health, maxReplaces: 1 } }),
    ).toBeUndefined();
    expect(unhealthyReason({ resources: [{ id: 'file[a]', status: 'changed', action: 'update' }] }, policy)).toBeUndefined();
  });
});
