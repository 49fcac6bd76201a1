/**
 * The agent's metrics, for node_exporter's textfile collector: after every run the
 * registry (prom-client, one per agent, values replaced at each run, so it never grows)
 * is rendered in the Prometheus text format and written atomically (a temp file in the
 * same directory, then rename): a scrape sees the old file or the new one, never half.
 * The temp name does not end in `.prom`, so the collector never reads it.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { writeFileAtomic } from '../core/atomic.js';
import type { AgentReport } from './report.js';

const STATUSES = ['unchanged', 'changed', 'pending', 'failed', 'skipped'] as const;
const OUTCOMES = ['run', 'skipped', 'not-run'] as const;

export interface AgentMetrics {
  readonly registry: Registry;
  /** Record a finished run. */
  observe(report: AgentReport, extra: { catalogueAgeSeconds: number | null; nextRun: Date | null }): void;
  render(): Promise<string>;
  /** The packets and bytes each firewall rule and policy decided (iptables counters), replacing the last ones. */
  firewall(counters: readonly { kind: string; name: string; packets: number; bytes: number }[]): void;
  /** Render and write atomically to `file`. */
  write(file: string): Promise<void>;
}

/** `runsBefore`: runs by outcome before this process (a run in a child of the agent carries the parent's count). */
export function createAgentMetrics(info: { version: string; node: string; runsBefore?: Readonly<Record<string, number>> }): AgentMetrics {
  const registry = new Registry();
  const g = (name: string, help: string, labelNames: string[] = []): Gauge => new Gauge({ name, help, labelNames, registers: [registry] });
  const lastRun = g('tsconverge_agent_last_run_timestamp_seconds', 'When the last run finished (Unix time).');
  const duration = g('tsconverge_agent_last_run_duration_seconds', 'How long the last run took.');
  const exitCode = g('tsconverge_agent_last_run_exit_code', 'Exit code of the last run: 0 no changes, 2 changes, 4 failures, 6 both, 1 did not run.');
  const outcome = g('tsconverge_agent_last_run_outcome', "The last run's outcome: 1 for the one that happened.", ['outcome']);
  const resources = g('tsconverge_agent_resources', 'Resources of the last run by status (pending: would change, under noop).', ['status']);
  const changes = g(
    'tsconverge_agent_changes',
    'Resources the last run changed (or would, under noop), by cause: intentional (the catalogue changed) or corrective (the host drifted).',
    ['cause'],
  );
  const failures = g(
    'tsconverge_agent_failures',
    'Failures of the last run: failed or skipped resources (resource), a catalogue that did not compile or fetch (catalogue), a run that did not happen (run).',
    ['type'],
  );
  const enabled = g('tsconverge_agent_enabled', '1 when the agent is enabled, 0 while it is disabled (tsconverge agent disable).');
  const noop = g('tsconverge_agent_noop', '1 when the agent only reports (--noop).');
  const cached = g('tsconverge_agent_cached_catalogue', '1 when the last run used the last-known-good catalogue because the fresh one failed.');
  const age = g('tsconverge_agent_catalogue_age_seconds', 'Age of the catalogue the last run used: since it was compiled or fetched.');
  const next = g('tsconverge_agent_next_run_timestamp_seconds', 'When the next run is due (Unix time).');
  const interrupted = g('tsconverge_agent_last_run_interrupted', '1 when a stop signal interrupted the last run.');
  const build = g('tsconverge_agent_build_info', 'tsconverge build information.', ['version', 'nodejs', 'node']);
  // backup.volume (issue 27): one series per backup and volume, from the resource's report details.
  const backupLabels = ['backup', 'volume'];
  const backupAge = g(
    'tsconverge_backup_age_seconds',
    'Age of the newest snapshot of a volume when the run finished (no series: no snapshot yet, see tsconverge_backup_overdue).',
    backupLabels,
  );
  const backupLast = g('tsconverge_backup_last_success_timestamp_seconds', 'When the newest snapshot of a volume was taken (Unix time).', backupLabels);
  const backupDuration = g('tsconverge_backup_duration_seconds', 'How long the newest snapshot of a volume took.', backupLabels);
  const backupSize = g('tsconverge_backup_size_bytes', 'Bytes of the volume the newest snapshot read.', backupLabels);
  const backupCount = g('tsconverge_backup_snapshots', 'Snapshots of the volume this host keeps in the repository.', backupLabels);
  const backupOverdue = g(
    'tsconverge_backup_overdue',
    '1 when the newest snapshot of a volume is older than its every (or there is none) after the run.',
    backupLabels,
  );
  const runs = new Counter({
    name: 'tsconverge_agent_runs_total',
    help: 'Runs since the agent started, by outcome.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const fwPackets = g(
    'tsconverge_firewall_packets',
    "Packets a firewall rule or policy decided (its iptables counter: it restarts from 0 when the rule's lines are rewritten).",
    ['kind', 'name'],
  );
  const fwBytes = g('tsconverge_firewall_bytes', 'Bytes a firewall rule or policy decided (its iptables counter).', ['kind', 'name']);
  build.set({ version: info.version, nodejs: process.versions.node, node: info.node }, 1);
  for (const o of OUTCOMES) runs.inc({ outcome: o }, info.runsBefore?.[o] ?? 0);

  return {
    registry,
    observe(report, extra) {
      lastRun.set(Date.parse(report.finishedAt) / 1000);
      duration.set(report.durationMs / 1000);
      exitCode.set(report.exitCode);
      for (const o of OUTCOMES) outcome.set({ outcome: o }, o === report.outcome ? 1 : 0);
      for (const s of STATUSES) resources.set({ status: s }, report.summary[s]);
      changes.set({ cause: 'intentional' }, report.changes.intentional);
      changes.set({ cause: 'corrective' }, report.changes.corrective);
      failures.set({ type: 'resource' }, report.summary.failed + report.summary.skipped);
      failures.set({ type: 'catalogue' }, report.catalogueError ? 1 : 0);
      failures.set({ type: 'run' }, report.outcome === 'not-run' ? 1 : 0);
      enabled.set(report.agent.enabled ? 1 : 0);
      noop.set(report.noop ? 1 : 0);
      cached.set(report.cachedCatalogue ? 1 : 0);
      if (extra.catalogueAgeSeconds === null) age.reset();
      else age.set(extra.catalogueAgeSeconds);
      if (extra.nextRun) next.set(extra.nextRun.getTime() / 1000);
      else next.reset();
      interrupted.set(report.interrupted ? 1 : 0);
      observeBackups(report, [backupAge, backupLast, backupDuration, backupSize, backupCount, backupOverdue]);
      runs.inc({ outcome: report.outcome });
    },
    firewall(counters) {
      fwPackets.reset();
      fwBytes.reset();
      for (const c of counters) {
        fwPackets.set({ kind: c.kind, name: c.name }, c.packets);
        fwBytes.set({ kind: c.kind, name: c.name }, c.bytes);
      }
    },
    render: () => registry.metrics(),
    async write(file) {
      await writeFileAtomic(file, await registry.metrics(), { mode: 0o644 });
    },
  };
}

interface BackupDetail {
  volume?: string;
  lastSuccess?: string | null;
  snapshots?: number;
  sizeBytes?: number;
  durationSeconds?: number;
  overdue?: boolean;
}

/** The backup gauges from the backup.volume resources of a run (a run that did not read them keeps none). */
function observeBackups(report: AgentReport, [age, last, duration, size, count, overdue]: readonly Gauge[]): void {
  for (const gauge of [age, last, duration, size, count, overdue]) gauge!.reset();
  const finished = Date.parse(report.finishedAt) / 1000;
  for (const r of report.resources) {
    const backups = (r.details as { backups?: BackupDetail[] } | undefined)?.backups;
    if (r.kind !== 'backup.volume' || !Array.isArray(backups)) continue;
    for (const b of backups) {
      const labels = { backup: r.name, volume: b.volume ?? '' };
      overdue!.set(labels, b.overdue ? 1 : 0);
      if (typeof b.snapshots === 'number') count!.set(labels, b.snapshots);
      if (b.lastSuccess) {
        const t = Date.parse(b.lastSuccess) / 1000;
        last!.set(labels, t);
        age!.set(labels, Math.max(0, finished - t));
      }
      if (typeof b.sizeBytes === 'number') size!.set(labels, b.sizeBytes);
      if (typeof b.durationSeconds === 'number') duration!.set(labels, b.durationSeconds);
    }
  }
}
