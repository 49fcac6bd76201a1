/**
 * backup.volume through the real CLI, real restic, a repository in a temp dir and a real
 * volume on the real engine with a writer container: apply -> a snapshot; again ->
 * nothing; drift (the snapshot forgotten by hand, or only an old one left) -> plan says
 * `backup due`, exits 2 and writes nothing to the repository (not even a lock) and touches
 * no container; apply -> repaired. Retention keeps exactly the declared snapshots.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker } from '../../../test/support/harness.js';
import { cli, reported } from '../hostio.testkit.js';
import { backupSandbox, dirFingerprint, mountpointOf, resticCli, snapshotsIn, stateOf, writerCommand, type BackupSandbox } from './backup.testkit.js';

let s: BackupSandbox;
beforeAll(() => {
  s = backupSandbox();
});
afterAll(() => s?.cleanup());

const manifest = (extra = ''): string =>
  s.manifest(
    JSON.stringify({
      resources: [
        { kind: 'docker.volume', name: `${s.pfx}-data`, labels: { 'tsconverge-test': s.label.split('=')[1] } },
        {
          kind: 'docker.container',
          name: `${s.pfx}-db`,
          image: 'local/busybox:1',
          networks: ['none'],
          command: writerCommand(),
          labels: { 'tsconverge-test': s.label.split('=')[1] },
          mounts: [{ type: 'volume', source: `${s.pfx}-data`, target: '/data' }],
        },
        {
          kind: 'backup.volume',
          name: 'db',
          volumes: [`${s.pfx}-data`],
          repository: s.repo,
          passwordFile: s.passwordFile,
          every: '24h',
          keep: { last: 2 },
          require: [`docker.container[${s.pfx}-db]`],
          ...(extra ? JSON.parse(extra) : {}),
        },
      ],
    }),
  );

describe('backup.volume timeline', () => {
  it('apply -> snapshot; again -> nothing; drift -> plan reports, writes nothing; apply -> repaired', async () => {
    const m = manifest();
    const run = (...extra: string[]) => cli(['apply', m, '--root', s.root, '--format', 'json', ...extra]);

    const first = await run();
    expect(first.code, first.stderr + first.stdout).toBe(2);
    expect(reported(first, 'backup.volume[db]')).toMatchObject({ action: 'update', status: 'changed' });
    expect(reported(first, 'backup.volume[db]').changes[0]).toMatchObject({
      path: '/every',
      from: `backup due (no snapshot of ${s.pfx}-data yet)`,
      to: 'a snapshot younger than 24h',
    });
    const one = snapshotsIn(s.repo);
    expect(one).toHaveLength(1);
    expect(one[0]!.tags).toContain(`tsconverge-volume=${s.pfx}-data`);
    expect(stateOf(`${s.pfx}-db`)).toBe('running');
    // The password is nowhere in what the CLI printed.
    expect(first.stdout + first.stderr).not.toContain('i27-repo-pass');

    const repoAfter = dirFingerprint(s.repo);
    const second = await run();
    expect(second.code, second.stderr).toBe(0);
    expect(dirFingerprint(s.repo)).toBe(repoAfter);

    // Drift by hand: the snapshot forgotten; only one taken 26 hours ago is left.
    resticCli(s.repo, ['forget', one[0]!.id]);
    resticCli(
      s.repo,
      [
        'backup',
        '--tag',
        `tsconverge-volume=${s.pfx}-data`,
        '--time',
        new Date(Date.now() - 26 * 3600_000).toISOString().slice(0, 19).replace('T', ' '),
        '--host',
        (await import('node:os')).hostname(),
        '.',
      ],
      { cwd: mountpointOf(`${s.pfx}-data`) },
    );
    const drifted = dirFingerprint(s.repo);
    const startedAt = docker('inspect', '--format', '{{.State.StartedAt}}', `${s.pfx}-db`);
    const noop = await run('--noop');
    expect(noop.code, noop.stderr).toBe(2);
    expect(reported(noop, 'backup.volume[db]')).toMatchObject({ action: 'update', status: 'pending' });
    const planCmd = await cli(['plan', m, '--root', s.root]);
    expect(planCmd.code, planCmd.stderr).toBe(2);
    expect(planCmd.stdout).toMatch(/every: "backup due \(last 26 h ago\)" -> "a snapshot younger than 24h"/);
    expect(dirFingerprint(s.repo)).toBe(drifted);
    expect(docker('inspect', '--format', '{{.State.StartedAt}}', `${s.pfx}-db`)).toBe(startedAt);

    const repair = await run();
    expect(repair.code, repair.stderr).toBe(2);
    expect(snapshotsIn(s.repo)).toHaveLength(2);
    expect((await run()).code).toBe(0);
  }, 180_000);

  it('retention keeps exactly the declared snapshots (made in the past with --time), of this host only', async () => {
    const m = manifest(JSON.stringify({ every: '3650d', keep: { daily: 3, weekly: 2, monthly: 2 } }));
    const host = (await import('node:os')).hostname();
    const mp = mountpointOf(`${s.pfx}-data`);
    for (const s0 of snapshotsIn(s.repo)) resticCli(s.repo, ['forget', s0.id]);
    const at = (d: string, h = host): void => {
      resticCli(s.repo, ['backup', '--host', h, '--tag', `tsconverge-volume=${s.pfx}-data`, '--time', `${d} 12:00:00`, '.'], { cwd: mp });
    };
    const days = ['2025-01-15', '2025-02-27', '2025-02-28'];
    for (let d = 7; d <= 31; d++) days.push(`2025-03-${String(d).padStart(2, '0')}`);
    for (const d of days) at(d);
    at('2025-01-01', 'another-host');
    expect(snapshotsIn(s.repo)).toHaveLength(29);

    const plan = await cli(['plan', m, '--root', s.root, '--format', 'json']);
    expect(plan.code, plan.stderr).toBe(2);
    expect(reported(plan, 'backup.volume[db]').changes).toEqual([
      expect.objectContaining({ path: '/keep', from: '24 snapshots beyond keep daily 3, weekly 2, monthly 2', to: 'keep daily 3, weekly 2, monthly 2' }),
    ]);
    expect(snapshotsIn(s.repo)).toHaveLength(29);

    const apply = await cli(['apply', m, '--root', s.root, '--format', 'json']);
    expect(apply.code, apply.stderr + apply.stdout).toBe(2);
    const kept = snapshotsIn(s.repo)
      .map((x) => `${x.hostname === host ? '' : x.hostname + ' '}${x.time.slice(0, 10)}`)
      .sort();
    // daily 3: Mar 31, 30, 29; weekly 2: Mar 31 (week 14), Mar 30 (week 13); monthly 2: Mar 31, Feb 28. Another host's snapshot is not this host's to forget.
    expect(kept).toEqual(['2025-02-28', '2025-03-29', '2025-03-30', '2025-03-31', 'another-host 2025-01-01']);
    const again = await cli(['plan', m, '--root', s.root]);
    expect(again.code, again.stdout).toBe(0);
  }, 180_000);
});
