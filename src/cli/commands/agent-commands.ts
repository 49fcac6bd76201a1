/**
 * The agent's commands, `agent` and `status`: part of COMMANDS (./index.ts), and all the
 * single executable's agent process registers (src/cli/agent-main.ts), so both parse the
 * agent's flags from the same definitions.
 */
import type { CliCommand } from './command.js';
import { command as agent } from './agent.js';
import { command as status } from './status.js';

export const AGENT_COMMANDS: readonly CliCommand[] = [agent, status];
