/**
 * `tsconverge backup list|run|restore|verify`: the backup.volume resources of a catalogue
 * (their repository and password come from it), acted on now. docs/backup.md.
 * SIGINT/SIGTERM interrupt restic; containers paused or stopped are started again first.
 * Its command line: src/cli/commands/backup.ts.
 */
import path from 'node:path';
import { TsconvergeError } from '../core/errors.js';
import { redact } from '../core/redact.js';
import { DEFAULTS } from '../core/defaults.js';
import type { CatalogueResource } from '../core/types.js';
import { EXIT } from './exit.js';
import { loggerFrom, printInputError, type GlobalFlags } from './common.js';

export interface BackupFlags extends GlobalFlags {
  readonly manifests?: string;
  readonly root?: string;
  readonly format?: 'human' | 'json';
  readonly node?: string;
  readonly environment?: string;
  readonly secretsDir?: string;
  readonly stateDir?: string;
}

type Attrs = import('../providers/backup/ops.js').BackupAttrs;

interface Loaded {
  readonly backups: readonly CatalogueResource[];
  readonly catalogue: import('../core/types.js').Catalogue;
  readonly ctx: import('../providers/backup/ops.js').Ctx;
  readonly docker: import('dockerode');
  readonly root: string;
  readonly dispose: () => void;
  readonly interrupted: () => number | undefined;
}

async function load(flags: BackupFlags): Promise<Loaded> {
  const root = path.resolve(flags.root ?? '/');
  const log = loggerFrom(flags);
  const { createFacts } = await import('../facts/facts.js');
  const facts = await createFacts(root);
  const { loadAnyCatalogue } = await import('../catalogue/load-any.js');
  const catalogue = await loadAnyCatalogue(flags.manifests ?? DEFAULTS.manifests, {
    facts,
    node: flags.node,
    environment: flags.environment,
    secrets: { dir: flags.secretsDir },
  });
  const backups = catalogue.resources.filter((r) => r.kind === 'backup.volume');
  const { createRootFs } = await import('../core/rootfs.js');
  const { createProcessRunner } = await import('../core/exec.js');
  const { createDockerClient, loadDockerode } = await import('../providers/docker/client.js');
  await loadDockerode();
  const ctl = new AbortController();
  let code: number | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    code = sig === 'SIGINT' ? EXIT.INTERRUPTED_SIGINT : EXIT.INTERRUPTED_SIGTERM;
    log.warn(`interrupted by ${sig}: stopping restic, starting the containers again`);
    ctl.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    backups,
    catalogue,
    root,
    docker: createDockerClient(),
    ctx: { exec: createProcessRunner(), fs: createRootFs(root), signal: ctl.signal, log, facts },
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
    interrupted: () => code,
  };
}

const attrs = (r: CatalogueResource): Attrs => r.attrs as unknown as Attrs;

function byName(l: Loaded, name: string): CatalogueResource {
  const r = l.backups.find((b) => b.name === name);
  if (!r)
    throw new TsconvergeError('INVALID_VALUE', `no backup.volume named ${JSON.stringify(name)} in the catalogue`, {
      terminal: true,
      hint: l.backups.length ? `backups: ${l.backups.map((b) => b.name).join(', ')}` : 'declare a backup.volume (docs/backup.md)',
    });
  return r;
}

function byVolume(l: Loaded, volume: string): CatalogueResource {
  const r = l.backups.find((b) => attrs(b).volumes.includes(volume));
  if (!r)
    throw new TsconvergeError('INVALID_VALUE', `no backup.volume of the catalogue backs up volume ${JSON.stringify(volume)}`, {
      terminal: true,
      hint: 'tsconverge backup list shows the volumes backed up',
    });
  return r;
}

const size = (n?: number): string =>
  n === undefined
    ? '-'
    : n < 1024
      ? `${n} B`
      : n < 1024 ** 2
        ? `${(n / 1024).toFixed(1)} KiB`
        : n < 1024 ** 3
          ? `${(n / 1024 ** 2).toFixed(1)} MiB`
          : `${(n / 1024 ** 3).toFixed(1)} GiB`;

/** Run `body` with the catalogue loaded; input errors print and exit 1, failures exit 4. */
async function withLoaded(flags: BackupFlags, body: (l: Loaded) => Promise<number>): Promise<number> {
  const format = flags.format ?? 'human';
  let l: Loaded;
  try {
    l = await load(flags);
  } catch (err) {
    printInputError(err, format);
    return EXIT.NOT_RUN;
  }
  try {
    return await body(l);
  } catch (err) {
    if (!(err instanceof TsconvergeError)) throw err;
    if (l.interrupted() !== undefined) {
      process.stderr.write(redact(`error: ${err.format()}\n`));
      return l.interrupted()!;
    }
    if (err.code === 'INVALID_VALUE' || err.code === 'RESTORE_REFUSED' || err.code === 'RUN_IN_PROGRESS') {
      printInputError(err, format);
      return EXIT.NOT_RUN;
    }
    if (format === 'json') process.stdout.write(redact(JSON.stringify({ formatVersion: 1, ok: false, errors: [err.toJSON()] }, null, 2)) + '\n');
    else process.stderr.write(redact(`error: ${err.format()}${err.hint ? `\n  hint: ${err.hint}` : ''}\n`));
    return EXIT.FAILURES;
  } finally {
    l.dispose();
  }
}

export async function backupListCommand(volume: string | undefined, flags: BackupFlags): Promise<number> {
  return withLoaded(flags, async (l) => {
    const { listSnapshots } = await import('../providers/backup/ops.js');
    const targets = volume ? [byVolume(l, volume)] : l.backups;
    const rows = [];
    for (const r of targets)
      for (const s of await listSnapshots(r.id, attrs(r), l.ctx)) if (!volume || s.volume === volume) rows.push({ backup: r.name, ...s });
    if (flags.format === 'json') process.stdout.write(JSON.stringify({ formatVersion: 1, snapshots: rows }, null, 2) + '\n');
    else {
      const lines = [
        ['ID', 'TIME', 'HOST', 'VOLUME', 'SIZE', 'BACKUP'],
        ...rows.map((s) => [s.id, s.time.slice(0, 19).replace('T', ' ') + 'Z', s.host, s.volume, size(s.bytes), s.backup]),
      ];
      const w = lines[0]!.map((_, i) => Math.max(...lines.map((x) => x[i]!.length)));
      process.stdout.write(
        lines
          .map((x) =>
            x
              .map((c, i) => c.padEnd(w[i]!))
              .join('  ')
              .trimEnd(),
          )
          .join('\n') + `\n${rows.length} snapshot${rows.length === 1 ? '' : 's'}\n`,
      );
    }
    return EXIT.OK;
  });
}

export async function backupRunCommand(name: string | undefined, flags: BackupFlags): Promise<number> {
  return withLoaded(flags, async (l) => {
    const { takeBackup } = await import('../providers/backup/ops.js');
    const { acquireRunLock } = await import('../engine/lock.js');
    const { resolveStateDir } = await import('../core/state-layout.js');
    const targets = name ? [byName(l, name)] : l.backups;
    if (!targets.length)
      throw new TsconvergeError('INVALID_VALUE', 'the catalogue declares no backup.volume', { terminal: true, hint: 'declare one (docs/backup.md)' });
    // The run lock: a backup run and an apply (the agent's) never touch the containers at once.
    const lock = await acquireRunLock(resolveStateDir({ stateDir: flags.stateDir, root: l.root }), { command: 'backup run', signal: l.ctx.signal });
    const taken = [];
    try {
      for (const r of targets) for (const t of await takeBackup(l.docker, r.id, attrs(r), attrs(r).volumes, l.ctx)) taken.push({ backup: r.name, ...t });
    } finally {
      await lock.release();
    }
    if (flags.format === 'json') process.stdout.write(JSON.stringify({ formatVersion: 1, taken }, null, 2) + '\n');
    else for (const t of taken) process.stdout.write(`${t.volume}: snapshot ${t.snapshot} (${size(t.bytes)}, ${t.seconds.toFixed(1)} s)\n`);
    return EXIT.CHANGES;
  });
}

export async function backupRestoreCommand(volume: string, flags: BackupFlags & { snapshot: string; into?: string }): Promise<number> {
  return withLoaded(flags, async (l) => {
    const ops = await import('../providers/backup/ops.js');
    const r = byVolume(l, volume);
    let s;
    if (flags.into) s = await ops.restoreInto(l.docker, r.id, attrs(r), volume, flags.snapshot, flags.into, l.ctx);
    else {
      const containers = new Set(l.catalogue.resources.filter((x) => x.kind === 'docker.container').map((x) => x.name.replace(/^\//, '')));
      const declared = l.catalogue.resources.find((x) => x.kind === 'docker.volume' && x.name === volume);
      const labels = (declared?.attrs as { labels?: Record<string, string> } | undefined)?.labels;
      s = await ops.restoreInPlace(l.docker, r.id, attrs(r), volume, flags.snapshot, l.ctx, {
        managed: (c) => containers.has(c),
        ...(labels ? { labels } : {}),
      });
    }
    const into = flags.into ?? volume;
    if (flags.format === 'json')
      process.stdout.write(JSON.stringify({ formatVersion: 1, restored: { volume, snapshot: s.short_id, time: s.time, into } }, null, 2) + '\n');
    else process.stdout.write(`restored snapshot ${s.short_id} of ${volume} (${s.time.slice(0, 19).replace('T', ' ')}Z) into volume ${into}\n`);
    return EXIT.CHANGES;
  });
}

export async function backupVerifyCommand(name: string, flags: BackupFlags): Promise<number> {
  return withLoaded(flags, async (l) => {
    const { drill } = await import('../providers/backup/ops.js');
    const r = byName(l, name);
    const done = await drill(l.docker, r.id, attrs(r), l.ctx);
    if (flags.format === 'json') process.stdout.write(JSON.stringify({ formatVersion: 1, verified: done }, null, 2) + '\n');
    else
      for (const d of done)
        process.stdout.write(
          `${d.volume}: snapshot ${d.snapshot} restored into a scratch volume, ${d.files} entries equal to the snapshot, scratch volume removed\n`,
        );
    return EXIT.OK;
  });
}

/**
 * `backup resume pause:ID|stop:ID...` (hidden): what the guard of a quiesce runs when the
 * process that paused or stopped the containers died without starting them again.
 */
export async function backupResumeCommand(targets: readonly string[]): Promise<number> {
  const { createDockerClient, loadDockerode } = await import('../providers/docker/client.js');
  await loadDockerode();
  const docker = createDockerClient();
  let code: number = EXIT.OK;
  for (const t of targets) {
    const [how, id] = t.split(':') as [string, string];
    try {
      if (how === 'pause') await docker.getContainer(id).unpause();
      else await docker.getContainer(id).start();
      process.stderr.write(`${how === 'pause' ? 'unpaused' : 'started'} ${id} (left ${how === 'pause' ? 'paused' : 'stopped'} by a backup run that died)\n`);
    } catch (err) {
      if (/already started|not paused|304/i.test(String(err))) continue;
      process.stderr.write(`error: ${id}: ${String(err)}\n`);
      code = EXIT.FAILURES;
    }
  }
  return code;
}
