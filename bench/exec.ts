/**
 * Runs one command the way every tool is timed: wall clock around the whole
 * process, peak resident memory from GNU time (`/usr/bin/time -v`).
 *
 * GNU time reads the rusage of the process it waits for, whose `ru_maxrss` is the
 * peak of the largest single process in the tree (the command or any descendant it
 * waited for), not a sum over concurrent processes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Command {
  readonly argv: readonly string[];
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
}

export interface ExecResult {
  readonly exitCode: number;
  readonly seconds: number;
  /** Peak RSS in KiB as GNU time reports it, or null when it could not be read. */
  readonly peakRssKb: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const OUTPUT_LIMIT = 4 * 1024 * 1024;
const TIME_BIN = '/usr/bin/time';

/** Runs `cmd` under GNU time and measures it. Never throws for a non-zero exit. */
export async function timed(cmd: Command, timeoutMs = 30 * 60_000): Promise<ExecResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tscbench-time-'));
  const timeFile = join(dir, 'time.txt');
  try {
    const started = performance.now();
    const res = await run({ ...cmd, argv: [TIME_BIN, '-v', '-o', timeFile, '--', ...cmd.argv] }, timeoutMs);
    const seconds = (performance.now() - started) / 1000;
    return { ...res, seconds, peakRssKb: parsePeakRss(safeRead(timeFile)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs a command untimed (setup, checks, cleanup). */
export async function run(cmd: Command, timeoutMs = 10 * 60_000): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const [file, ...args] = cmd.argv;
  if (file === undefined) throw new Error('run: empty argv');
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: cmd.cwd,
      env: { ...process.env, ...cmd.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < OUTPUT_LIMIT) stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < OUTPUT_LIMIT) stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ exitCode: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** Runs a command and returns its stdout, throwing with its stderr on failure. */
export async function output(argv: readonly string[]): Promise<string> {
  const res = await run({ argv });
  if (res.exitCode !== 0) {
    throw new Error(`${argv.join(' ')} exited ${res.exitCode}: ${res.stderr.trim().slice(0, 500)}`);
  }
  return res.stdout;
}

export function parsePeakRss(text: string): number | null {
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(text);
  return m?.[1] !== undefined ? Number(m[1]) : null;
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The last `n` characters of a tool's output, for failure details. */
export function tail(text: string, n = 600): string {
  const t = text.trim();
  return t.length <= n ? t : `...${t.slice(-n)}`;
}

/**
 * Drop a file's pages from the page cache (`dd iflag=nocache count=0`; pages a running
 * process maps stay), as after a boot. Resident memory counts the file pages a process
 * maps, and Linux maps whole cached large folios around a fault: an executable just written
 * with one write(2) of the whole file (the build's postject step) is cached in large folios, and the same process
 * then shows tens of MB more (README "Agent benchmarks" has the figures). Benchmarks start
 * the executable from this defined state instead of whatever the build left.
 */
export async function dropPageCache(file: string): Promise<void> {
  const argv = ['dd', `if=${file}`, 'iflag=nocache', 'count=0', 'status=none'];
  const res = await run({ argv });
  if (res.exitCode !== 0) throw new Error(`${argv.join(' ')}: ${res.stderr}`);
}
