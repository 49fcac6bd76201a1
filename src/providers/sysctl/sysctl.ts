/**
 * Kind `sysctl`: one kernel parameter, named by its key (sysctl[net.core.somaxconn]).
 *
 * Set live through <procRoot>/sys (procRoot is /proc unless the provider is created
 * with another, or TSCONVERGE_PROC_ROOT is set; the root directory does not move it:
 * live values are always the running kernel's, so tests run in a fresh network
 * namespace), and persisted as one line of the tsconverge-owned file
 * /etc/sysctl.d/90-tsconverge.conf under the root directory.
 *
 * An unknown key fails the resource (also under noop) with SYSCTL_UNKNOWN_KEY; a value
 * the kernel refuses (EINVAL on write) fails it with SYSCTL_REFUSED, and then neither
 * the live value nor the file has changed. ensure: absent removes the persisted line
 * and leaves the live value as it is.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TsconvergeError } from '../../core/errors.js';
import { withFileLock } from '../hostio.js';
import { unsuitable, type Provider, type ProviderContext, type Refusal, type Resource, type View } from '../types.js';
import { SYSCTL_FILE, keyPath, normaliseValue, persistedValue, renderSysctlConf } from './sysctld.js';

export interface SysctlAttrs {
  readonly ensure?: 'present' | 'absent';
  readonly value?: string | number | boolean;
  readonly persist?: boolean;
}

export interface SysctlObserved {
  /** The live value, or null when it cannot be read (see `status`). */
  readonly live: string | null;
  readonly status: 'ok' | 'unknown' | 'unreadable';
  readonly persisted: string | null;
}

export interface SysctlProviderOptions {
  /** Where procfs is mounted; default TSCONVERGE_PROC_ROOT or /proc. */
  readonly procRoot?: string;
}

async function readLive(file: string): Promise<Pick<SysctlObserved, 'live' | 'status'>> {
  try {
    return { live: normaliseValue(await readFile(file, 'utf8')), status: 'ok' };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { live: null, status: 'unknown' };
    if (code === 'EACCES' || code === 'EPERM' || code === 'EIO') return { live: null, status: 'unreadable' };
    throw err;
  }
}

function unknownKey(r: Resource<SysctlAttrs>, procSys: string): TsconvergeError {
  return new TsconvergeError('SYSCTL_UNKNOWN_KEY', `unknown sysctl key ${r.name}: ${path.join(procSys, keyPath(r.name))} does not exist`, {
    resource: r.id,
    terminal: true,
    hint: 'check the spelling (`sysctl -a` lists the keys); a key of a kernel module that is not loaded appears only once the module is loaded',
  });
}

function unreadable(r: Resource<SysctlAttrs>): TsconvergeError {
  return new TsconvergeError(
    'SYSCTL_REFUSED',
    `sysctl ${r.name} cannot be read, so it cannot be compared (a write-only key such as net.ipv4.route.flush, or no permission)`,
    {
      resource: r.id,
      terminal: true,
      hint: 'tsconverge converges readable parameters only; run as root for the rest',
    },
  );
}

function refused(r: Resource<SysctlAttrs>, value: string, err: NodeJS.ErrnoException): TsconvergeError {
  const why =
    err.code === 'EINVAL' || err.code === 'ERANGE'
      ? 'the kernel refused the value (invalid argument: out of range or malformed)'
      : `the write was not permitted (${err.code ?? err.message}: a read-only /proc/sys, a key owned by another namespace, or not root)`;
  return new TsconvergeError(
    'SYSCTL_REFUSED',
    `cannot set ${r.name} to ${JSON.stringify(value)}: ${why}; the live value and ${SYSCTL_FILE} were left unchanged`,
    {
      resource: r.id,
      terminal: err.code === 'EINVAL' || err.code === 'ERANGE',
      cause: err,
      hint: 'declare a value the kernel accepts (see the kernel documentation for this key); multi-value keys take space-separated values',
    },
  );
}

export function sysctlViews(r: Resource<SysctlAttrs>, observed: SysctlObserved | null, procSys = '/proc/sys'): { desired: View; actual: View | null } {
  if (r.attrs.ensure === 'absent') return { desired: {}, actual: observed === null ? null : {} };
  if (observed?.status === 'unknown') throw unknownKey(r, procSys);
  if (observed?.status === 'unreadable') throw unreadable(r);
  if (r.attrs.value === undefined) {
    throw new TsconvergeError('INVALID_VALUE', `sysctl ${r.name} declares no value`, {
      resource: r.id,
      terminal: true,
      hint: 'add `value:`, or ensure: absent to stop persisting it',
    });
  }
  const value = normaliseValue(r.attrs.value);
  const persist = r.attrs.persist ?? true;
  // One attribute, two places: the running kernel and the persisted file. The plan
  // shows them as value/live and value/persisted.
  return {
    desired: { value: { live: value, ...(persist ? { persisted: value } : {}) } },
    actual: observed === null ? null : { value: { live: observed.live, ...(persist ? { persisted: observed.persisted } : {}) } },
  };
}

export function createSysctlProvider(opts: SysctlProviderOptions = {}): Provider<SysctlAttrs, SysctlObserved> {
  const procSys = (): string => path.join(opts.procRoot ?? process.env.TSCONVERGE_PROC_ROOT ?? '/proc', 'sys');
  const liveFile = (r: Resource<SysctlAttrs>): string => path.join(procSys(), keyPath(r.name));

  /** A key this kernel does not have is refused before the run: validate and plan say so at its name. */
  const preflight = async (resources: readonly Resource<SysctlAttrs>[]): Promise<Refusal[]> => {
    const out: Refusal[] = [];
    for (const r of resources) {
      if (r.attrs.ensure === 'absent') continue;
      if ((await readLive(liveFile(r))).status !== 'unknown') continue;
      const e = unknownKey(r, procSys());
      out.push({ id: r.id, pointer: '/name', code: 'SYSCTL_UNKNOWN_KEY', message: e.message, hint: e.hint });
    }
    return out;
  };

  const readAll = async (resources: readonly Resource<SysctlAttrs>[], ctx: ProviderContext): Promise<Map<string, SysctlObserved | null>> => {
    const text = await ctx.fs.readText(SYSCTL_FILE);
    const out = new Map<string, SysctlObserved | null>();
    for (const r of resources) {
      let persisted: string | null;
      try {
        persisted = persistedValue(text, r.name);
      } catch {
        out.set(r.id, { live: null, status: 'unknown', persisted: null }); // not a key at all: views says so
        continue;
      }
      if (r.attrs.ensure === 'absent') {
        out.set(r.id, persisted === null ? null : { live: null, status: 'ok', persisted });
        continue;
      }
      out.set(r.id, { ...(await readLive(liveFile(r))), persisted });
    }
    return out;
  };

  const applyOne = async (r: Resource<SysctlAttrs>, ctx: ProviderContext): Promise<void> => {
    const file = SYSCTL_FILE;
    const write = (text: string): Promise<void> => ctx.fs.writeAtomic(file, text, { mode: 0o644, resource: r.id, signal: ctx.signal });
    if (r.attrs.ensure === 'absent') {
      await withFileLock(ctx.fs.root + file, async () => {
        const before = await ctx.fs.readText(file, { resource: r.id });
        if (before !== null && persistedValue(before, r.name) !== null) await write(renderSysctlConf(before, r.name, null));
      });
      return;
    }
    const value = normaliseValue(r.attrs.value ?? '');
    const live = await readLive(liveFile(r));
    if (live.status === 'unknown') throw unknownKey(r, procSys());
    if (live.status === 'unreadable') throw unreadable(r);
    if (live.live !== value) {
      try {
        await writeFile(liveFile(r), value);
      } catch (err) {
        throw refused(r, value, err as NodeJS.ErrnoException);
      }
    }
    if (!(r.attrs.persist ?? true)) return;
    try {
      await withFileLock(ctx.fs.root + file, async () => {
        const before = await ctx.fs.readText(file, { resource: r.id });
        const after = renderSysctlConf(before, r.name, value);
        if (after !== before) await write(after);
      });
    } catch (err) {
      // Persisting failed: put the live value back, so the host is as it was.
      if (live.live !== null && live.live !== value) await writeFile(liveFile(r), live.live).catch(() => undefined);
      throw err;
    }
  };

  return {
    kind: 'sysctl',
    watch: () => [{ path: SYSCTL_FILE }],
    preflight,
    async suitable() {
      try {
        await readFile(path.join(procSys(), 'kernel', 'ostype'), 'utf8');
        return undefined;
      } catch (err) {
        return unsuitable(`${procSys()} cannot be read (${(err as Error).message}); sysctl resources need procfs`);
      }
    },
    readMany: readAll,
    views(r, observed) {
      return sysctlViews(r, observed, procSys());
    },
    async apply(r, _plan, _observed, ctx) {
      await applyOne(r, ctx);
      return (await readAll([r], ctx)).get(r.id) ?? null;
    },
  };
}
