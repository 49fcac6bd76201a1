/** `tsconverge ca ...`: the certificate authority of the catalogue server (src/cli/ca.ts). */
import type { Command } from 'commander';
import type { CaFlags } from '../ca.js';
import type { CliCommand } from './command.js';
import { caOptions, formatOption, wholeNumber } from './options.js';

export const command: CliCommand = {
  name: 'ca',
  register(program: Command): void {
    const ca = program.command('ca').description('the certificate authority of the catalogue server');
    caOptions(ca.command('init').description("create the CA, the server's certificate and an operator certificate; print the CA fingerprint"))
      .option('--hostname <name...>', "extra names or IPs the server answers on (localhost, 127.0.0.1, ::1 and this host's name are always in)")
      .action(async (o: CaFlags & { hostname?: string[] }) => {
        const { caInitCommand } = await import('../ca.js');
        process.exitCode = await caInitCommand(o);
      });
    caOptions(
      ca
        .command('reissue-server')
        .description("issue the server's certificate again (same key and names, plus --hostname) with the catalogue-signing purpose agents require"),
    )
      .option('--hostname <name...>', 'names or IPs to add')
      .option('--days <n>', "validity in days from now (default: the old certificate's end)", wholeNumber)
      .action(async (o: CaFlags & { hostname?: string[]; days?: number }) => {
        const { caReissueServerCommand } = await import('../ca.js');
        process.exitCode = await caReissueServerCommand(o);
      });
    caOptions(ca.command('fingerprint').description('print the CA fingerprint (sha256:...) agents pin with --ca-fingerprint')).action(async (o: CaFlags) => {
      const { caFingerprintCommand } = await import('../ca.js');
      process.exitCode = await caFingerprintCommand(o);
    });
    caOptions(ca.command('list').description('list waiting requests, signed and revoked certificates'))
      .addOption(formatOption('output format'))
      .action(async (o: CaFlags & { format: string }) => {
        const { caListCommand } = await import('../ca.js');
        process.exitCode = await caListCommand(o);
      });
    caOptions(ca.command('sign').description('sign the waiting certificate request of NODE').argument('<node>'))
      .option('--days <n>', 'validity in days', wholeNumber, 365)
      .action(async (node: string, o: CaFlags & { days: number }) => {
        const { caSignCommand } = await import('../ca.js');
        process.exitCode = await caSignCommand(node, o);
      });
    caOptions(ca.command('revoke').description("revoke NODE's certificate: the server refuses it from its next request").argument('<node>')).action(
      async (node: string, o: CaFlags) => {
        const { caRevokeCommand } = await import('../ca.js');
        process.exitCode = await caRevokeCommand(node, o);
      },
    );
    caOptions(ca.command('token').description('print a one-time join token: an agent started with --join-token TOKEN is signed at once'))
      .option('--ttl-hours <n>', 'hours the token stays valid', wholeNumber, 24)
      .action(async (o: CaFlags & { ttlHours: number }) => {
        const { caTokenCommand } = await import('../ca.js');
        process.exitCode = await caTokenCommand(o);
      });
  },
};
