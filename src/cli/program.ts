/**
 * What every entry of the command line shares: the program with its global options, and
 * the run that turns commander's and tsconverge's errors into exit codes. main.ts registers
 * every command (commands/index.ts); agent-main.ts only the agent's
 * (commands/agent-commands.ts: the single executable's agent process, scripts/sea-launcher.cjs).
 */
import { Command, Option } from 'commander';
import { EXIT } from './exit.js';
import { ManifestErrors, TsconvergeError } from '../core/errors.js';
import { redact, registerEnvSecrets } from '../core/redact.js';

/** The program with the global options, before any command is registered. */
export function baseProgram(version: string): Command {
  const program = new Command('tsconverge')
    .description('Converge container hosts to a declared state: images, containers, networks, volumes, files.')
    .version(version)
    .addOption(new Option('--log-format <format>', 'log format on stderr').choices(['text', 'json']).default('text'))
    .addOption(new Option('--log-level <level>', 'log level').choices(['error', 'warn', 'info', 'debug']).default('info'))
    .showHelpAfterError()
    .configureHelp({ showGlobalOptions: true })
    .exitOverride();
  return program;
}

/** Parse and run `argv`; every outcome becomes process.exitCode (this layer never exits). */
export async function runProgram(program: Command, argv: readonly string[]): Promise<void> {
  // TSCONVERGE_SECRET_* values are secrets from the start: masked in every output.
  registerEnvSecrets(process.env);
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') {
      process.exitCode = 0;
      return;
    }
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      process.exitCode = EXIT.NOT_RUN;
      return;
    }
    reportUnexpected(err, argv);
  }
}

/**
 * The last resort: anything that reaches here is printed as one line (a TsconvergeError
 * or a batch of manifest errors in their own format), never as a stack trace unless
 * --log-level debug asked for it. Exit 1.
 */
export function reportUnexpected(err: unknown, argv: readonly string[]): void {
  const debug = argv.some((a, i) => a === '--log-level=debug' || (a === '--log-level' && argv[i + 1] === 'debug'));
  if (err instanceof ManifestErrors || err instanceof TsconvergeError) {
    process.stderr.write(redact(`error: ${err instanceof TsconvergeError ? err.format() : err.message}\n`));
  } else {
    const message = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    process.stderr.write(redact(`tsconverge: unexpected error: ${message}\n`));
  }
  if (debug && err instanceof Error && err.stack) process.stderr.write(redact(`${err.stack}\n`));
  else process.stderr.write('  (this is a bug in tsconverge; run with --log-level debug for the stack)\n');
  process.exitCode = EXIT.NOT_RUN;
}
