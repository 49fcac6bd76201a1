/** Test helpers: throwaway fleet trees and the errors a compile gives. Used by *.test.ts only. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ManifestErrors, TsconvergeError } from '../core/errors.js';
import type { Facts } from '../facts/facts.js';

/** Write `files` (path relative to the fleet root -> text) into a new temp directory. */
export function createFleet(files: Readonly<Record<string, string>>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'tsc-fleet-'));
  for (const [rel, text] of Object.entries(files)) {
    const p = path.join(root, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
  return root;
}

export interface ErrorSummary {
  code: string;
  file?: string;
  line?: number;
  pointer?: string;
  message: string;
}

/** The errors a promise rejects with, summarised; [] when it resolves. */
export async function errorsOf(p: Promise<unknown>): Promise<ErrorSummary[]> {
  try {
    await p;
    return [];
  } catch (err) {
    const list = err instanceof ManifestErrors ? err.errors : err instanceof TsconvergeError ? [err] : undefined;
    if (!list) throw err;
    return list.map((e) => ({
      code: e.code,
      file: e.location?.file ? path.basename(e.location.file) : undefined,
      line: e.location?.line,
      pointer: e.location?.pointer,
      message: e.message,
    }));
  }
}

export function testFacts(hostname: string, extra: Record<string, unknown> = {}): Facts {
  return {
    hostname,
    fqdn: `${hostname}.example.net`,
    domain: 'example.net',
    os: { family: 'linux', name: 'Debian GNU/Linux', version: '12', id: 'debian', codename: 'bookworm', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
    ...extra,
  } as unknown as Facts;
}
