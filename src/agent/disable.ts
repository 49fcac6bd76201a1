/**
 * Pausing the agent for a change window: `tsconverge agent disable --reason "..."` writes
 * <stateDir>/agent_disabled.json (reason, who, since); a running agent reads it before
 * every run and skips the run (logged and reported) while it exists; `agent enable`
 * removes it. A file, not a signal: it holds across agent restarts and reboots.
 */
import { mkdir, readFile, unlink } from 'node:fs/promises';
import os from 'node:os';
import { TsconvergeError } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic.js';
import { stateLayout } from '../core/state-layout.js';

export interface DisabledState {
  readonly reason: string;
  /** Who disabled it: the sudo user when there is one, else the user running the command. */
  readonly by: string;
  /** ISO time. */
  readonly since: string;
}

export function currentUser(env: NodeJS.ProcessEnv = process.env): string {
  let name: string;
  try {
    name = os.userInfo().username;
  } catch {
    name = `uid ${process.getuid?.() ?? '?'}`;
  }
  return env.SUDO_USER && env.SUDO_USER !== name ? `${env.SUDO_USER} (via sudo as ${name})` : name;
}

export async function readDisabled(stateDir: string): Promise<DisabledState | null> {
  let text: string;
  try {
    text = await readFile(stateLayout(stateDir).agentDisabled, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const d = JSON.parse(text) as Partial<DisabledState>;
    return { reason: String(d.reason ?? ''), by: String(d.by ?? 'unknown'), since: String(d.since ?? '') };
  } catch {
    // A file someone wrote by hand still disables: its text is the reason.
    return { reason: text.trim(), by: 'unknown', since: '' };
  }
}

/** Disable; returns the state written (an agent already disabled keeps its first reason unless replaced). */
export async function disableAgent(stateDir: string, reason: string, by = currentUser()): Promise<DisabledState> {
  if (reason.trim() === '') {
    throw new TsconvergeError('INVALID_VALUE', 'a reason is required to disable the agent', {
      terminal: true,
      hint: 'tsconverge agent disable --reason "change window CHG-1234"',
    });
  }
  const state: DisabledState = { reason: reason.trim(), by, since: new Date().toISOString() };
  await mkdir(stateDir, { recursive: true, mode: 0o755 });
  await writeFileAtomic(stateLayout(stateDir).agentDisabled, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
  return state;
}

/** Enable; returns the state that was removed, or null when the agent was not disabled. */
export async function enableAgent(stateDir: string): Promise<DisabledState | null> {
  const prior = await readDisabled(stateDir);
  try {
    await unlink(stateLayout(stateDir).agentDisabled);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return prior;
}
