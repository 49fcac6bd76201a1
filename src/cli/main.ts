/**
 * The command line: the program (./program.ts) with every command of
 * ./commands/index.ts. Commands load their implementation lazily so `tsconverge
 * --version` starts fast. This layer is the only one that exits.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { BUNDLE } from '../core/bundle.js';
import { baseProgram, runProgram } from './program.js';
import { registerCommands } from './commands/command.js';
import { COMMANDS } from './commands/index.js';

export { reportUnexpected } from './program.js';

const pkg = BUNDLE ?? (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string });

export function createProgram(): Command {
  return registerCommands(baseProgram(pkg.version), COMMANDS);
}

export async function main(argv: readonly string[]): Promise<void> {
  await runProgram(createProgram(), argv);
}
