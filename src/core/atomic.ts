/**
 * Atomic replacement of tsconverge's own state files (state directory, reports, metrics,
 * caches: paths tsconverge chooses, not a manifest; host files go through ctx.fs in
 * core/rootfs.ts instead): write a temp
 * file in the same directory, fsync it, set mode and owner, optionally validate it,
 * rename it over the target, fsync the directory. A reader sees the old bytes or the
 * new bytes, never a mix; a failed validation leaves the old file byte-identical.
 */
import { open, rename, unlink, chmod, chown, mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

export interface AtomicWriteOptions {
  /** File mode, e.g. 0o644. Defaults to 0o644. */
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  /**
   * Checks the new content before it replaces the old: receives the temp file's path,
   * throws to refuse. The temp file is removed on refusal.
   */
  readonly validate?: (tempPath: string) => Promise<void>;
}

export async function writeFileAtomic(target: string, content: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = path.dirname(target);
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(target)}.tsconverge-${randomBytes(6).toString('hex')}`);
  const fh = await open(tmp, 'wx', opts.mode ?? 0o644);
  let renamed = false;
  try {
    await fh.writeFile(content);
    await fh.sync();
    await fh.close();
    await chmod(tmp, opts.mode ?? 0o644);
    if (opts.uid !== undefined || opts.gid !== undefined) await chown(tmp, opts.uid ?? -1, opts.gid ?? -1);
    if (opts.validate) await opts.validate(tmp);
    await rename(tmp, target);
    renamed = true;
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } finally {
    if (!renamed) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
    }
  }
}
