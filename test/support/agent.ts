/**
 * Running the agent as a real process in integration tests: start it, wait on the
 * report files it writes (never on sleeps), signal it, wait for its exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BIN } from './harness.js';

export interface AgentProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<number | null>;
  stderr(): string;
}

export function startAgent(args: string[], env: Record<string, string> = {}): AgentProcess {
  const child = spawn(process.execPath, [BIN, 'agent', ...args], { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, pid: child.pid!, exited, stderr: () => err };
}

/** Poll until `fn` returns a value (not undefined/false); fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => T | undefined | false, timeoutMs = 30_000, pollMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Every run report in the state directory, oldest first. */
export function reports(stateDir: string): any[] {
  const dir = path.join(stateDir, 'reports');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
    .sort()
    .map((n) => JSON.parse(readFileSync(path.join(dir, n), 'utf8')));
}

/** Wait for a report after the first `after` ones that matches `pred`; returns it. */
export function nextReport(stateDir: string, after: number, pred: (r: any) => boolean = () => true, timeoutMs = 30_000): Promise<any> {
  return waitFor(`a report after #${after} in ${stateDir}`, () => reports(stateDir).slice(after).find(pred), timeoutMs);
}

export function byId(report: any): Record<string, any> {
  return Object.fromEntries(report.resources.map((r: any) => [r.id, r]));
}
