/**
 * The entry of the single executable's agent process, the one that only schedules runs
 * and starts each in a child process (scripts/sea-launcher.cjs picks it for `agent`
 * without --onetime, --in-process or --worker). It registers the agent's commands alone
 * (AGENT_COMMANDS, the same entries main.ts registers among the rest) on the same
 * program, so flags parse the same; scripts/build-sea.mjs bundles it without
 * ./agent-run.js, the engine, the providers and the compiler: the process that stays
 * resident for years holds only what it uses (README "Agent benchmarks"). So it imports
 * ./commands/agent-commands.js, never ./commands/index.js.
 */
import { readFileSync } from 'node:fs';
import { BUNDLE } from '../core/bundle.js';
import { AGENT_COMMANDS } from './commands/agent-commands.js';
import { registerCommands } from './commands/command.js';
import { baseProgram, runProgram } from './program.js';

export async function agentMain(argv: readonly string[]): Promise<void> {
  const version = BUNDLE?.version ?? (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  await runProgram(registerCommands(baseProgram(version), AGENT_COMMANDS), argv);
}
