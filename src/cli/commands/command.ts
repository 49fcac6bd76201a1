/**
 * The shape every command file of src/cli/commands/ exports: `export const command:
 * CliCommand`. A command file holds the command line of one top-level command (its
 * subcommands, options, arguments and help text) and nothing heavy: each action loads
 * its implementation (src/cli/<command>.ts) with `await import(...)`, so registering
 * every command costs `tsconverge --version` nothing.
 */
import type { Command } from 'commander';

export interface CliCommand {
  /** The command's name on the command line: `tsconverge NAME`. */
  readonly name: string;
  /** Add the command, with its subcommands, options and actions, to `program`. */
  register(program: Command): void;
}

/** Register `commands` on `program`, in order (the order of `--help`). */
export function registerCommands(program: Command, commands: readonly CliCommand[]): Command {
  for (const c of commands) c.register(program);
  return program;
}
