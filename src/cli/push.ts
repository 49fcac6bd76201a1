/**
 * `tsconverge push --inventory FILE [PATH]`: converge the inventory's hosts over SSH
 * (src/push/*). node-ssh and the push modules load only inside it. Its command line:
 * src/cli/commands/push.ts.
 */
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { BUNDLE } from '../core/bundle.js';
import { redact } from '../core/redact.js';
import { TsconvergeError } from '../core/errors.js';
import { printInputError, type GlobalFlags } from './common.js';
import { EXIT } from './exit.js';

export interface PushFlags extends GlobalFlags {
  readonly inventory: string;
  readonly noop?: boolean;
  readonly limit?: string;
  readonly parallel: number;
  readonly acceptNew?: boolean;
  readonly install: boolean;
  readonly format: 'human' | 'json';
  readonly secretsDir?: string;
}

function version(): string {
  return BUNDLE?.version ?? (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export async function pushCommand(target: string, flags: PushFlags): Promise<number> {
  const { loadInventory, selectHosts } = await import('../push/inventory.js');
  let hosts;
  let inv;
  try {
    inv = await loadInventory(flags.inventory);
    hosts = selectHosts(inv, flags.limit);
    // A missing PATH is one error here, not one per host after connecting to each.
    await stat(target).catch((err: Error) => {
      throw new TsconvergeError('MANIFEST_NOT_FOUND', `cannot read ${target}: ${err.message}`, {
        location: { file: target },
        terminal: true,
        hint: 'PATH is a fleet tree (a directory with environments/) or a manifest file or directory',
      });
    });
  } catch (err) {
    printInputError(err, flags.format);
    return EXIT.NOT_RUN;
  }
  const { pushHosts, pushExitCode } = await import('../push/run.js');
  const { formatHost, formatHostJson, formatSummary, prefixLines } = await import('./push-format.js');
  const out = (s: string): void => {
    process.stdout.write(redact(s));
  };
  // SIGINT/SIGTERM: no further host starts; running remote applies get the same signal, finish
  // what is in flight, report and release their locks; then the summary, and exit 130/143.
  const ctl = new AbortController();
  let interruptCode: number | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interruptCode !== undefined) return;
    interruptCode = sig === 'SIGINT' ? EXIT.INTERRUPTED_SIGINT : EXIT.INTERRUPTED_SIGTERM;
    process.stderr.write(`push: ${sig}: no further host starts; the hosts' applies finish what is in flight\n`);
    ctl.abort(new TsconvergeError('INTERRUPTED', `interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const results = await pushHosts(hosts, {
    signal: ctl.signal,
    target,
    noop: flags.noop ?? false,
    parallel: flags.parallel,
    knownHosts: inv.knownHosts,
    // --noop changes nothing on a host: it never installs either.
    acceptNew: flags.acceptNew ?? false,
    install: flags.install && !flags.noop,
    version: version(),
    ...(flags.secretsDir ? { secretsDir: flags.secretsDir } : {}),
    onResult: (r) => out(flags.format === 'json' ? formatHostJson(r) : formatHost(r)),
    onRemoteLog: (host, text) => {
      process.stderr.write(redact(prefixLines(host, text)));
    },
  }).finally(() => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });
  const code = pushExitCode(results);
  if (flags.format !== 'json') out(formatSummary(results, code, flags.noop ?? false));
  return interruptCode ?? code;
}
