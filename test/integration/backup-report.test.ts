/**
 * Backup freshness in reports, metrics and the dashboard, from real agent runs with real
 * restic: an overdue backup (its newest snapshot made 26 h ago with --time) shows as
 * overdue in the run report, as tsconverge_backup_overdue 1 with an age of 26 h in the
 * metrics file (promtool accepts it), flagged on the dashboard's overview and node page
 * (the server's store fed the agent's real report); after the agent's run that takes the
 * backup, all of it says fresh, with the size, duration and snapshot count.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { reports, startAgent } from '../support/agent.js';
import { openStore } from '../../src/server/store.js';
import { nodePage, overviewPage } from '../../src/server/dashboard/pages.js';
import { backupSandbox, mountpointOf, resticCli, type BackupSandbox } from '../../src/providers/backup/backup.testkit.js';
import { docker } from '../support/harness.js';

let s: BackupSandbox;
let m: string;
let stateDir: string;
let metrics: string;
const volume = (): string => `${s.pfx}-data`;

beforeAll(() => {
  s = backupSandbox();
  stateDir = path.join(path.dirname(s.root), 'state');
  metrics = path.join(path.dirname(s.root), 'tsconverge.prom');
  docker('volume', 'create', '--label', s.label, volume());
  docker(
    'run',
    '--rm',
    '--network',
    'none',
    '--label',
    s.label,
    '-v',
    `${volume()}:/d`,
    'local/busybox:1',
    'sh',
    '-c',
    'head -c 300000 /dev/urandom > /d/data.bin',
  );
  resticCli(s.repo, ['init']);
  const when = new Date(Date.now() - 26 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
  resticCli(s.repo, ['backup', '--host', os.hostname(), '--tag', `tsconverge-volume=${volume()}`, '--time', when, '.'], { cwd: mountpointOf(volume()) });
  m = s.manifest(
    JSON.stringify({ resources: [{ kind: 'backup.volume', name: 'db', volumes: [volume()], repository: s.repo, passwordFile: s.passwordFile, every: '24h' }] }),
  );
});
afterAll(() => s?.cleanup());

async function agentOnce(...extra: string[]): Promise<any> {
  const a = startAgent(['--manifests', m, '--root', s.root, '--state-dir', stateDir, '--onetime', '--metrics-file', metrics, ...extra]);
  const code = await a.exited;
  expect([0, 2], a.stderr()).toContain(code);
  return reports(stateDir).pop();
}

function gauge(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{backup="db",volume="${volume()}"}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

async function dashboard(report: Record<string, unknown>): Promise<{ overview: string; node: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'i27-store-'));
  const store = await openStore({ dataDir: dir });
  try {
    await store.addReport('web-01', report);
    const nodes = await store.listNodes(3_600_000);
    const overview = overviewPage(nodes, {}, {});
    const stored = await store.listReports('web-01', 5);
    const node = nodePage({ node: nodes[0]!, reports: stored });
    // A run that did not happen (no resources) keeps the backups the last run found.
    await store.addReport('web-01', { formatVersion: 1, outcome: 'not-run', exitCode: 1 });
    expect((await store.listNodes(3_600_000))[0]!.backups).toEqual(nodes[0]!.backups);
    return { overview, node };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('backup freshness in reports, metrics and the dashboard', () => {
  it('overdue: report, metrics (age 26 h), overview flag and node page; after the backup run: fresh', async () => {
    const noop = await agentOnce('--noop');
    const b = noop.resources.find((r: any) => r.id === 'backup.volume[db]');
    expect(b.status).toBe('pending');
    expect(b.details.backups).toEqual([expect.objectContaining({ volume: volume(), every: '24h', snapshots: 1, overdue: true })]);
    const text = readFileSync(metrics, 'utf8');
    execFileSync('promtool', ['check', 'metrics'], { input: text, stdio: ['pipe', 'pipe', 'pipe'] });
    expect(gauge(text, 'tsconverge_backup_overdue')).toBe(1);
    expect(gauge(text, 'tsconverge_backup_age_seconds')).toBeGreaterThan(26 * 3600 - 60);
    expect(gauge(text, 'tsconverge_backup_age_seconds')).toBeLessThan(26 * 3600 + 600);
    expect(gauge(text, 'tsconverge_backup_snapshots')).toBe(1);
    const d1 = await dashboard(noop);
    expect(d1.overview).toContain('data-backup="overdue"');
    expect(d1.overview).toContain('1 backup overdue');
    expect(d1.overview).toContain(`${volume()} (last 26 h ago)`);
    expect(d1.node).toMatch(/<h2 id="backups-h">Backups<\/h2>/);
    expect(d1.node).toMatch(new RegExp(`<tr data-volume="${volume()}">.*s-backup-overdue`, 's'));

    const run = await agentOnce();
    const after = run.resources.find((r: any) => r.id === 'backup.volume[db]');
    expect(after.status).toBe('changed');
    expect(after.details.backups[0]).toMatchObject({ overdue: false, snapshots: 2 });
    expect(after.details.backups[0].sizeBytes).toBe(300000);
    expect(after.details.backups[0].durationSeconds).toBeGreaterThanOrEqual(0);
    const text2 = readFileSync(metrics, 'utf8');
    execFileSync('promtool', ['check', 'metrics'], { input: text2, stdio: ['pipe', 'pipe', 'pipe'] });
    expect(gauge(text2, 'tsconverge_backup_overdue')).toBe(0);
    expect(gauge(text2, 'tsconverge_backup_age_seconds')).toBeLessThan(600);
    expect(gauge(text2, 'tsconverge_backup_size_bytes')).toBe(300000);
    expect(gauge(text2, 'tsconverge_backup_snapshots')).toBe(2);
    expect(gauge(text2, 'tsconverge_backup_duration_seconds')).toBeGreaterThanOrEqual(0);
    const d2 = await dashboard(run);
    expect(d2.overview).toContain('data-backup="fresh"');
    expect(d2.overview).not.toContain('overdue');
    expect(d2.node).toMatch(new RegExp(`<tr data-volume="${volume()}">.*s-backup-fresh`, 's'));
  }, 180_000);
});
