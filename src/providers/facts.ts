/**
 * Host facts: what templates and node classification may use about this host.
 * Gathered once per run, cheaply (no subprocess), from the host's root.
 */
import os from 'node:os';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface Facts {
  readonly hostname: string;
  readonly fqdn: string;
  readonly os: { readonly family: string; readonly name: string; readonly version: string; readonly id: string };
  readonly kernel: { readonly release: string; readonly arch: string };
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly interfaces: Readonly<Record<string, readonly string[]>>;
  readonly [extra: string]: unknown;
}

function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return out;
}

/** Collect facts. `root` is the host root (for /etc/os-release); live values come from the kernel. */
export async function createFacts(root = '/'): Promise<Facts> {
  let osr: Record<string, string> = {};
  try {
    osr = parseOsRelease(await readFile(path.join(root, 'etc/os-release'), 'utf8'));
  } catch {
    try { osr = parseOsRelease(await readFile('/etc/os-release', 'utf8')); } catch { /* no os-release */ }
  }
  const interfaces: Record<string, string[]> = {};
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    interfaces[name] = (addrs ?? []).map((a) => a.address);
  }
  const hostname = os.hostname();
  return {
    hostname: hostname.split('.')[0]!,
    fqdn: hostname,
    os: { family: os.platform(), name: osr.NAME ?? os.type(), version: osr.VERSION_ID ?? '', id: osr.ID ?? '' },
    kernel: { release: os.release(), arch: os.arch() },
    cpus: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    interfaces,
  };
}
