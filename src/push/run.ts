/**
 * Push: for each selected host, at most `parallel` at once, connect (host key checked),
 * make sure it runs this tsconverge, read its facts, compile its catalogue here, apply it
 * there under its run lock, and bring back its report. A host that cannot be reached or
 * fails never stops the others: each ends with a HostResult.
 */
import { createProviderRegistry } from '../providers/container.js';
import { loadAnyCatalogue } from '../catalogue/load-any.js';
import { createGraph } from '../engine/graph.js';
import { ManifestErrors, TsconvergeError, toTsconvergeError } from '../core/errors.js';
import type { Report } from '../engine/report.js';
import type { PushHost } from './inventory.js';
import { connect, unreachable } from './ssh.js';
import { ensureTsconverge, remoteApply, remoteFacts } from './remote.js';
import { pushDocument } from './wire.js';

export interface PushOptions {
  /** Fleet tree or manifest directory. */
  readonly target: string;
  readonly noop: boolean;
  readonly parallel: number;
  readonly knownHosts: string;
  readonly acceptNew: boolean;
  readonly install: boolean;
  readonly secretsDir?: string;
  readonly version: string;
  /** Called as each host ends, in completion order. */
  readonly onResult?: (r: HostResult) => void;
  /** Remote stderr lines (its log), per host. */
  readonly onRemoteLog?: (host: string, text: string) => void;
  /** Aborted on SIGINT/SIGTERM: no host starts any more, and running remote applies get the signal. */
  readonly signal?: AbortSignal;
}

export type HostStatus = 'ok' | 'unreachable' | 'refused' | 'not-run' | 'error';

export interface HostResult {
  readonly host: string;
  readonly node: string;
  readonly address: string;
  readonly port: number;
  readonly status: HostStatus;
  /** The remote apply's exit code (0/2/4/6, 1 when it did not run); 4 for a host that could not be reached or refused. */
  readonly exitCode: number;
  readonly changed: number;
  readonly failed: number;
  readonly durationMs: number;
  /** The executable was installed by this push. */
  readonly installed?: boolean;
  /** Its host key was recorded by --accept-new. */
  readonly hostKeyRecorded?: boolean;
  readonly report?: Report;
  readonly errors?: readonly Record<string, unknown>[];
}

function errorsOf(err: unknown, host?: PushHost): Record<string, unknown>[] {
  if (err instanceof ManifestErrors) return err.errors.map((e) => e.toJSON());
  if (err instanceof TsconvergeError || !host) return [toTsconvergeError(err).toJSON()];
  // Anything else broke the SSH session or the remote command mid-way.
  return [
    new TsconvergeError('REMOTE_FAILED', `${host.name}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
      hint: 'the connection or the remote command failed; nothing else was attempted on this host',
    }).toJSON(),
  ];
}

let registry: ReturnType<typeof createProviderRegistry> | undefined;
/** One provider registry for every host's graph check. */
function providers(): ReturnType<typeof createProviderRegistry> {
  registry ??= createProviderRegistry();
  return registry;
}

function interrupted(): TsconvergeError {
  return new TsconvergeError('INTERRUPTED', 'not started: the push was interrupted', { terminal: true });
}

async function pushHost(host: PushHost, o: PushOptions): Promise<HostResult> {
  const started = performance.now();
  const base = { host: host.name, node: host.node, address: host.address, port: host.port };
  const done = (r: Omit<HostResult, keyof typeof base | 'durationMs'>): HostResult => ({ ...base, ...r, durationMs: Math.round(performance.now() - started) });
  if (o.signal?.aborted) return done({ status: 'not-run', exitCode: 1, changed: 0, failed: 0, errors: [interrupted().toJSON()] });
  let conn;
  try {
    conn = await connect(host, { knownHosts: o.knownHosts, acceptNew: o.acceptNew });
  } catch (err) {
    const e = err instanceof TsconvergeError ? err : unreachable(host, err);
    return done({ status: e.code === 'HOST_UNREACHABLE' ? 'unreachable' : 'refused', exitCode: 4, changed: 0, failed: 0, errors: [e.toJSON()] });
  }
  const extra: { hostKeyRecorded?: true; installed?: true } = conn.recorded ? { hostKeyRecorded: true } : {};
  const stopped = (): void => {
    if (o.signal?.aborted) throw interrupted();
  };
  try {
    if (await ensureTsconverge(conn.ssh, host, o.version, o.install)) extra.installed = true;
    stopped();
    const facts = await remoteFacts(conn.ssh, host);
    let catalogue;
    try {
      catalogue = await loadAnyCatalogue(o.target, { facts, node: host.node, environment: host.environment, secrets: { dir: o.secretsDir } });
      createGraph(catalogue, providers()); // cycles are input errors: nothing is sent
    } catch (err) {
      if (err instanceof ManifestErrors || err instanceof TsconvergeError)
        return done({ status: 'not-run', exitCode: 1, changed: 0, failed: 0, ...extra, errors: errorsOf(err) });
      throw err;
    }
    stopped();
    const applied = await remoteApply(
      conn.ssh,
      host,
      pushDocument(catalogue, { root: o.target, node: host.node, environment: host.environment }),
      o.noop,
      o.signal,
    );
    if (applied.stderr.trim()) o.onRemoteLog?.(host.name, applied.stderr);
    if (!applied.report) return done({ status: 'not-run', exitCode: applied.code, changed: 0, failed: 0, ...extra, errors: applied.errors ?? [] });
    const s = applied.report.summary;
    return done({ status: 'ok', exitCode: applied.code, changed: s.changed + s.pending, failed: s.failed + s.skipped, ...extra, report: applied.report });
  } catch (err) {
    const notRun = err instanceof TsconvergeError && (err.code === 'REMOTE_VERSION' || err.code === 'INTERRUPTED');
    return done({ status: notRun ? 'not-run' : 'error', exitCode: notRun ? 1 : 4, changed: 0, failed: 0, ...extra, errors: errorsOf(err, host) });
  } finally {
    conn.ssh.dispose();
  }
}

/** Every host's result, in inventory order; at most `parallel` hosts at once. */
export async function pushHosts(hosts: readonly PushHost[], o: PushOptions): Promise<HostResult[]> {
  const results: HostResult[] = new Array(hosts.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < hosts.length) {
      const i = next++;
      const r = await pushHost(hosts[i]!, o);
      results[i] = r;
      o.onResult?.(r);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.parallel, hosts.length) }, worker));
  return results;
}

/**
 * The push's exit code: the worst over the hosts, as apply's bits: 2 when any host
 * changed (or would), 4 when any host failed, could not be reached, refused its key or
 * did not run (its exit 1); 6 both.
 */
export function pushExitCode(results: readonly HostResult[]): 0 | 2 | 4 | 6 {
  let code = 0;
  for (const r of results) {
    code |= [0, 2, 4, 6].includes(r.exitCode) ? r.exitCode : 4;
    if (r.changed > 0) code |= 2;
  }
  return code as 0 | 2 | 4 | 6;
}
