/** `tsconverge server --fleet PATH`: the catalogue server (src/cli/server.ts). */
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULTS } from '../../core/defaults.js';
import type { ServerFlags } from '../server.js';
import type { CliCommand } from './command.js';
import { caOptions, wholeNumber } from './options.js';

/** `--dashboard PORT`, `HOST:PORT` or `[IPv6]:PORT`; the host defaults to loopback. */
export function dashboardAddress(v: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(v);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) throw new InvalidArgumentError(`expected [HOST:]PORT (e.g. 8141 or 127.0.0.1:8141), got "${v}"`);
  return { host: m[1] ? m[1].replace(/^\[|\]$/g, '') : '127.0.0.1', port };
}

export const command: CliCommand = {
  name: 'server',
  register(program: Command): void {
    caOptions(
      program.command('server').description("serve each node's catalogue of a fleet tree over mutual TLS (runs until stopped; SIGHUP reloads the tree)"),
    )
      .requiredOption('--fleet <path>', 'the fleet tree (a directory with environments/)')
      .option('--host <address>', 'address to listen on', '0.0.0.0')
      .option('--port <n>', 'TCP port', wholeNumber, DEFAULTS.serverPort)
      .option('--database <url>', 'PostgreSQL URL (postgres://...); default: embedded PostgreSQL (PGlite) in STATE_DIR/db')
      .option('--environment <env>', 'environment of the fleet tree (default: TSCONVERGE_ENVIRONMENT, else the only one)')
      .option('--secrets-dir <dir>', 'directory of secret files, mode 0600/0400 (default: TSCONVERGE_SECRETS_DIR, else /etc/tsconverge/secrets)')
      .option('--autosign <file>', 'sign requests at once for node names matching a glob in FILE (one per line)')
      .option('--agent-interval <seconds>', "the agents' run interval: no report within two of them -> unresponsive", wholeNumber, 1800)
      .option('--report-retention <n>', 'reports kept per node', wholeNumber, 100)
      .option('--watch', 'reload the fleet tree when it changes (SIGHUP always reloads)')
      .option(
        '--dashboard <[host:]port>',
        'serve the read-only web dashboard on its own listener (host default 127.0.0.1), e.g. 8141 or 127.0.0.1:8141',
        dashboardAddress,
      )
      .option('--dashboard-token-file <file>', 'the dashboard login token (default: STATE_DIR/dashboard.token, made 0600 when absent)')
      .option('--dashboard-tls', "serve the dashboard over HTTPS with the server's certificate; operator certificates log in without the token")
      .option('--compile-workers <n>', 'worker threads that compile catalogues (0: the main thread; default: one per core)', wholeNumber)
      .action(async (o: ServerFlags, cmd: Command) => {
        const { serverCommand } = await import('../server.js');
        process.exitCode = await serverCommand(o, cmd.optsWithGlobals());
      });
  },
};
