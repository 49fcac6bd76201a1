/**
 * tsconverge backup list|run|restore|verify with real restic, a repository in a temp dir
 * and real volumes on the real engine (names i27-*, the test label; removed afterwards):
 * - a writer keeps writing during the backup; the dump hook's copy matches the row count
 *   it took at the same moment;
 * - with quiesce: stop the snapshot is byte-identical to the volume at the stop, and the
 *   container runs again;
 * - a restore into a new volume equals the original tree (sha256, modes, owners);
 * - the volume deleted and restored in place gives the same data back; in place with the
 *   users running stops and starts them; a container outside the catalogue is refused;
 * - the drill restores into a scratch volume and removes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { docker, runCli } from '../support/harness.js';
import { backupSandbox, mountpointOf, snapshotsIn, stateOf, volumeTree, writerCommand, type BackupSandbox } from '../../src/providers/backup/backup.testkit.js';

let s: BackupSandbox;
let m: string;
const test = (): string => s.label.split('=')[1]!;

beforeAll(() => {
  s = backupSandbox();
  // A tree with modes, owners, a symlink, nested directories and binary content.
  docker('volume', 'create', '--label', s.label, `${s.pfx}-files`);
  docker(
    'run',
    '--rm',
    '--network',
    'none',
    '--label',
    s.label,
    '-v',
    `${s.pfx}-files:/f`,
    'local/busybox:1',
    'sh',
    '-c',
    [
      'mkdir -p /f/conf/deep /f/www',
      'echo secret-ish > /f/conf/app.conf',
      'chmod 0640 /f/conf/app.conf',
      'chown 33:33 /f/conf/app.conf',
      'head -c 70000 /dev/urandom > /f/www/blob.bin',
      'chown 1000:1000 /f/www /f/www/blob.bin',
      'chmod 0755 /f/www',
      'chmod 2750 /f/conf/deep',
      'echo x > /f/conf/deep/x',
      'chmod 0600 /f/conf/deep/x',
      'ln -s ../conf/app.conf /f/www/link',
      'touch /f/empty',
    ].join(' && '),
  );
  m = s.manifest(
    JSON.stringify({
      resources: [
        { kind: 'docker.volume', name: `${s.pfx}-db`, labels: { 'tsconverge-test': test() } },
        {
          kind: 'docker.container',
          name: `${s.pfx}-db`,
          image: 'local/busybox:1',
          networks: ['none'],
          command: writerCommand(),
          labels: { 'tsconverge-test': test() },
          mounts: [{ type: 'volume', source: `${s.pfx}-db`, target: '/data' }],
        },
        {
          kind: 'backup.volume',
          name: 'db',
          volumes: [`${s.pfx}-db`, `${s.pfx}-files`],
          repository: s.repo,
          passwordFile: s.passwordFile,
          hooks: {
            container: `${s.pfx}-db`,
            before: ['sh', '-c', 'cp /data/rows /data/dump.rows && wc -l < /data/dump.rows > /data/dump.count'],
            after: ['rm', '-f', '/data/dump.rows', '/data/dump.count'],
          },
          require: [`docker.container[${s.pfx}-db]`],
        },
        { kind: 'docker.volume', name: `${s.pfx}-stop`, labels: { 'tsconverge-test': test() } },
        {
          kind: 'docker.container',
          name: `${s.pfx}-stopper`,
          image: 'local/busybox:1',
          networks: ['none'],
          labels: { 'tsconverge-test': test() },
          mounts: [{ type: 'volume', source: `${s.pfx}-stop`, target: '/data' }],
          command: [
            'sh',
            '-c',
            'echo start >> /data/rows; trap \'echo stopped at $i >> /data/rows; exit 0\' TERM; i=0; while true; do i=$((i+1)); echo "row $i" >> /data/rows; sleep 0.05; done',
          ],
        },
        {
          kind: 'backup.volume',
          name: 'stopped',
          volumes: [`${s.pfx}-stop`],
          repository: s.repo,
          passwordFile: s.passwordFile,
          quiesce: 'stop',
          require: [`docker.container[${s.pfx}-stopper]`],
        },
      ],
    }),
  );
});
afterAll(() => s?.cleanup());

const cli = (...args: string[]) => runCli([...args, '--manifests', m, '--root', s.root]);
/** Restore a snapshot into a new volume and return its mount point. */
async function restoreInto(volume: string, id: string, into: string): Promise<string> {
  const r = await cli('backup', 'restore', volume, '--snapshot', id, '--into', into);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toContain(`into volume ${into}`);
  return mountpointOf(into);
}

describe('tsconverge backup', () => {
  it('apply takes the backups; list shows them; the hook copy is consistent while the writer writes', async () => {
    const apply = await runCli(['apply', m, '--root', s.root, '--format', 'json']);
    expect(apply.code, apply.stderr + apply.stdout).toBe(2);
    expect(stateOf(`${s.pfx}-db`)).toBe('running');
    expect(stateOf(`${s.pfx}-stopper`)).toBe('running');

    const list = await cli('backup', 'list', `${s.pfx}-db`, '--format', 'json');
    expect(list.code, list.stderr).toBe(0);
    expect(list.json.snapshots).toHaveLength(1);
    expect(list.json.snapshots[0]).toMatchObject({ volume: `${s.pfx}-db`, backup: 'db' });
    expect(list.json.snapshots[0].bytes).toBeGreaterThan(0);
    const human = await cli('backup', 'list');
    expect(human.stdout).toMatch(/^ID\s+TIME\s+HOST\s+VOLUME\s+SIZE\s+BACKUP$/m);
    expect(human.stdout).toContain('3 snapshots');

    // The writer kept writing: the snapshot's dump is a consistent copy (rows 1..N with N the count taken with it).
    const mp = await restoreInto(`${s.pfx}-db`, list.json.snapshots[0].id, `${s.pfx}-db-copy`);
    const rows = readFileSync(path.join(mp, 'dump.rows'), 'utf8').split('\n').filter(Boolean);
    const count = Number(readFileSync(path.join(mp, 'dump.count'), 'utf8').trim());
    expect(count).toBeGreaterThan(0);
    expect(rows).toHaveLength(count);
    expect(rows).toEqual(Array.from({ length: count }, (_, i) => `row ${i + 1}`));
    // The after hook ran: the dump is gone from the live volume.
    expect(docker('exec', `${s.pfx}-db`, 'ls', '/data')).toBe('rows');
  }, 240_000);

  it('quiesce stop: the snapshot is byte-identical to the volume at the stop, and the container runs again', async () => {
    const run = await cli('backup', 'run', 'stopped');
    expect(run.code, run.stderr).toBe(2);
    expect(stateOf(`${s.pfx}-stopper`)).toBe('running');
    const snap = snapshotsIn(s.repo)
      .filter((x) => x.tags?.includes(`tsconverge-volume=${s.pfx}-stop`))
      .pop()!;
    const mp = await restoreInto(`${s.pfx}-stop`, snap.short_id, `${s.pfx}-stop-copy`);
    const copy = readFileSync(path.join(mp, 'rows'), 'utf8');
    const live = readFileSync(path.join(mountpointOf(`${s.pfx}-stop`), 'rows'), 'utf8');
    // The copy ends with the writer's last words at the stop, and the live file goes on from exactly there with a new start.
    expect(copy).toMatch(/stopped at \d+\n$/);
    expect(live.startsWith(copy)).toBe(true);
    expect(live.slice(copy.length)).toMatch(/^start\n/);
  }, 120_000);

  it('restore into a new volume equals the original tree: sha256, modes, owners', async () => {
    const snap = snapshotsIn(s.repo).find((x) => x.tags?.includes(`tsconverge-volume=${s.pfx}-files`))!;
    await restoreInto(`${s.pfx}-files`, snap.id, `${s.pfx}-files-copy`);
    const original = volumeTree(`${s.pfx}-files`);
    expect(original.length).toBe(8);
    expect(volumeTree(`${s.pfx}-files-copy`)).toEqual(original);
    // An existing volume is never restored over with --into.
    const again = await cli('backup', 'restore', `${s.pfx}-files`, '--snapshot', snap.short_id, '--into', `${s.pfx}-files-copy`);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists');
  }, 120_000);

  it('in place: refused while a container outside the catalogue uses the volume; the users are stopped and started; a deleted volume comes back', async () => {
    const snap = snapshotsIn(s.repo).find((x) => x.tags?.includes(`tsconverge-volume=${s.pfx}-files`))!;
    const original = volumeTree(`${s.pfx}-files`);
    docker('run', '-d', '--network', 'none', '--name', `${s.pfx}-foreign`, '--label', s.label, '-v', `${s.pfx}-files:/x`, 'local/busybox:1', 'sleep', '600');
    docker('exec', `${s.pfx}-foreign`, 'sh', '-c', 'echo changed > /x/empty');
    const changed = volumeTree(`${s.pfx}-files`);
    const refused = await cli('backup', 'restore', `${s.pfx}-files`, '--snapshot', snap.short_id);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`used by ${s.pfx}-foreign, which the catalogue does not manage`);
    expect(volumeTree(`${s.pfx}-files`)).toEqual(changed);
    expect(stateOf(`${s.pfx}-foreign`)).toBe('running');
    docker('rm', '-f', `${s.pfx}-foreign`);

    // A restore that fails (the repository lost its data and index) leaves the volume as it was.
    const broken = path.join(path.dirname(s.repo), 'broken-repo');
    execFileSync('cp', ['-a', s.repo, broken]);
    execFileSync('sh', ['-c', `find "${broken}/data" "${broken}/index" -type f -delete`]);
    const bm = s.write('broken.json', readFileSync(m, 'utf8').split(JSON.stringify(s.repo).slice(1, -1)).join(JSON.stringify(broken).slice(1, -1)));
    const failed = await runCli(['backup', 'restore', `${s.pfx}-files`, '--snapshot', snap.short_id, '--manifests', bm, '--root', s.root]);
    expect(failed.code, failed.stderr).toBe(4);
    expect(volumeTree(`${s.pfx}-files`)).toEqual(changed);
    expect(readdirSync(path.dirname(mountpointOf(`${s.pfx}-files`)))).toEqual(['_data']);

    // Deleted by hand, restored in place: the same data back.
    docker('volume', 'rm', `${s.pfx}-files`);
    const back = await cli('backup', 'restore', `${s.pfx}-files`, '--snapshot', snap.short_id);
    expect(back.code, back.stderr).toBe(2);
    expect(volumeTree(`${s.pfx}-files`)).toEqual(original);

    // The db volume in place while its (catalogue) container runs: stopped, restored, started again.
    const dbSnap = snapshotsIn(s.repo).find((x) => x.tags?.includes(`tsconverge-volume=${s.pfx}-db`))!;
    const before = docker('inspect', '--format', '{{.State.StartedAt}}', `${s.pfx}-db`);
    const inPlace = await cli('backup', 'restore', `${s.pfx}-db`, '--snapshot', dbSnap.short_id);
    expect(inPlace.code, inPlace.stderr).toBe(2);
    expect(stateOf(`${s.pfx}-db`)).toBe('running');
    expect(docker('inspect', '--format', '{{.State.StartedAt}}', `${s.pfx}-db`)).not.toBe(before);
    expect(readFileSync(path.join(mountpointOf(`${s.pfx}-db`), 'dump.count'), 'utf8').trim()).toMatch(/^\d+$/);
  }, 120_000);

  it('verify: the drill restores into a scratch volume, compares, removes it', async () => {
    const v = await cli('backup', 'verify', 'db', '--format', 'json');
    expect(v.code, v.stderr).toBe(0);
    expect(v.json.verified.map((x: any) => x.volume).sort()).toEqual([`${s.pfx}-db`, `${s.pfx}-files`]);
    expect(docker('volume', 'ls', '-q', '--filter', 'name=tsconverge-drill-')).not.toContain(s.pfx);
    const unknown = await cli('backup', 'verify', 'nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no backup.volume named "nope"');
  }, 120_000);
});
