/**
 * Every command of `tsconverge`, in the order `tsconverge --help` lists them: the one
 * list src/cli/main.ts registers. A new command is a file here exporting `command:
 * CliCommand` (./command.ts) and a line below (docs/architecture.md, "add a command").
 *
 * The single executable's agent process (src/cli/agent-main.ts) registers only the
 * agent's entries (AGENT_COMMANDS in ./agent-commands.ts) and must not import this file:
 * its bundle would then hold every command's implementation (scripts/build-sea.mjs).
 */
import type { CliCommand } from './command.js';
import { command as apply } from './apply.js';
import { command as plan } from './plan.js';
import { command as validate } from './validate.js';
import { command as compile } from './compile.js';
import { command as explain } from './explain.js';
import { command as ca } from './ca.js';
import { command as server } from './server.js';
import { command as nodes } from './nodes.js';
import { AGENT_COMMANDS } from './agent-commands.js';
import { command as importCommand } from './import.js';
import { command as push } from './push.js';
import { command as backup } from './backup.js';
import { command as rollout } from './rollout.js';
import { command as facts } from './facts.js';

export const COMMANDS: readonly CliCommand[] = [
  apply,
  plan,
  validate,
  compile,
  explain,
  ca,
  server,
  nodes,
  ...AGENT_COMMANDS,
  importCommand,
  push,
  backup,
  rollout,
  facts,
];
