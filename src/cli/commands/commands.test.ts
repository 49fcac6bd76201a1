/**
 * The command files: one per top-level command, each registering itself the same way,
 * all in the one list, and none loading an implementation before its action runs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { baseProgram } from '../program.js';
import { createProgram } from '../main.js';
import { registerCommands, type CliCommand } from './command.js';
import { AGENT_COMMANDS } from './agent-commands.js';
import { COMMANDS } from './index.js';

const dir = new URL('.', import.meta.url);
/** The files that are not a command: the shape, the lists, the shared options. */
const NOT_COMMANDS = new Set(['command.ts', 'index.ts', 'agent-commands.ts', 'options.ts']);
const commandFiles = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !NOT_COMMANDS.has(f));

describe('src/cli/commands', () => {
  it.each(commandFiles)('%s exports `command`, named as the file, in COMMANDS once', async (file) => {
    const name = file.replace(/\.ts$/, '');
    const { command } = (await import(/* @vite-ignore */ new URL(`${name}.ts`, dir).href)) as { command: CliCommand };
    expect(command.name).toBe(name);
    expect(COMMANDS.filter((c) => c === command)).toHaveLength(1);
  });

  it('COMMANDS is every command file, and each registers exactly its own top-level command', () => {
    expect(COMMANDS.map((c) => `${c.name}.ts`).sort()).toEqual([...commandFiles].sort());
    for (const c of COMMANDS) {
      const p = new Command();
      c.register(p);
      expect(p.commands.map((x) => x.name())).toEqual([c.name]);
    }
  });

  it('the program has the commands of COMMANDS, in its order', () => {
    expect(createProgram().commands.map((c) => c.name())).toEqual(COMMANDS.map((c) => c.name));
  });

  it('the agent process registers the agent commands of COMMANDS, with the same help', () => {
    expect(AGENT_COMMANDS.every((c) => COMMANDS.includes(c))).toBe(true);
    const agentProgram = registerCommands(baseProgram('0'), AGENT_COMMANDS);
    const full = registerCommands(baseProgram('0'), COMMANDS);
    const help = (p: Command, path: string[]): string => path.reduce((c, n) => c.commands.find((x) => x.name() === n)!, p).helpInformation();
    for (const path of [['agent'], ['agent', 'disable'], ['agent', 'enable'], ['status']]) expect(help(agentProgram, path)).toBe(help(full, path));
  });

  // `tsconverge --version` registers every command: a command file loads its implementation
  // (and anything heavy) only inside its action, with `await import(...)`.
  it.each(commandFiles.concat('options.ts', 'command.ts', 'index.ts', 'agent-commands.ts'))('%s imports no implementation at load', (file) => {
    const text = readFileSync(new URL(file, dir), 'utf8');
    const loads = [...text.matchAll(/^import (?!type )[^;]*? from '([^']+)';$/gms)].map((m) => m[1]!);
    for (const spec of loads) expect(spec === 'commander' || spec.startsWith('./') || spec === '../../core/defaults.js', `${file} imports ${spec}`).toBe(true);
  });
});
