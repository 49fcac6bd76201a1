/**
 * The entry of the single executable's agent process, the one that only schedules runs
 * and starts each in a child process (scripts/sea-launcher.cjs picks it for `agent`
 * without --onetime, --in-process or --worker). It registers the agent's commands alone
 * on the same program as main.ts, so flags parse the same; scripts/build-sea.mjs bundles
 * it without ./agent-run.js, the engine, the providers and the compiler: the process
 * that stays resident for years holds only what it uses (README "Agent benchmarks").
 */
import { readFileSync } from 'node:fs';
import { BUNDLE } from '../core/bundle.js';
import { registerAgentCommands } from './agent.js';
import { baseProgram, runProgram } from './program.js';

export async function agentMain(argv: readonly string[]): Promise<void> {
  const version = BUNDLE?.version ?? (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  const program = baseProgram(version);
  registerAgentCommands(program);
  await runProgram(program, argv);
}
