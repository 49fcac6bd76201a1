/**
 * The catalogue as push sends it: the catalogue server's document (src/server/wire.ts)
 * plus the secret values it holds, written on the remote apply's STDIN over the SSH
 * channel. Never an argument, never a file: `tsconverge apply --catalogue-stdin` reads
 * it, registers its secrets for masking, and runs it as `apply` runs a local catalogue.
 */
import path from 'node:path';
import type { Catalogue } from '../catalogue/compile.js';
import { catalogueOf, toDocument, type CatalogueDocument } from '../server/wire.js';
import { knownSecrets, registerSecret } from '../engine/redact.js';
import { TsconvergeError } from '../engine/errors.js';

export interface PushDocument extends CatalogueDocument {
  /** Secret values that occur in this catalogue (and only those): the remote side masks them in all output. */
  readonly secrets?: readonly string[];
}

/** Largest document accepted on stdin (a catalogue of 10,000 resources is far below). */
export const MAX_DOCUMENT_BYTES = 256 * 1024 * 1024;

export function pushDocument(catalogue: Catalogue, at: { root: string; node: string; environment?: string }): PushDocument {
  const doc = toDocument({ root: path.resolve(at.root), node: at.node, environment: at.environment ?? '', role: '', modules: [], catalogue }, 'push', new Date().toISOString());
  const text = JSON.stringify(doc);
  // Only this host's secrets: a value compiled for another host never travels here.
  const secrets = knownSecrets().filter((s) => text.includes(JSON.stringify(s).slice(1, -1)));
  return secrets.length ? { ...doc, secrets } : doc;
}

function refused(message: string): TsconvergeError {
  return new TsconvergeError('CATALOGUE_REFUSED', message, { terminal: true, hint: 'apply --catalogue-stdin reads the JSON document tsconverge push sends; nothing was applied' });
}

/** The engine's catalogue from a document's bytes; its secrets are registered for masking first. */
export function catalogueFromDocument(bytes: Uint8Array): Catalogue {
  let doc: PushDocument;
  try { doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as PushDocument; } catch { throw refused('the catalogue on stdin is not JSON'); }
  if (doc === null || typeof doc !== 'object' || doc.formatVersion !== 1 || !Array.isArray(doc.resources)) throw refused('the catalogue on stdin has an unknown format');
  for (const s of doc.secrets ?? []) if (typeof s === 'string') registerSecret(s);
  return catalogueOf(doc);
}

/** Read all of stdin (bounded) and return its catalogue. */
export async function readCatalogueFromStdin(stdin: NodeJS.ReadableStream = process.stdin): Promise<Catalogue> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > MAX_DOCUMENT_BYTES) throw refused(`the catalogue on stdin is larger than ${MAX_DOCUMENT_BYTES} bytes`);
    chunks.push(b);
  }
  if (size === 0) throw refused('no catalogue on stdin (apply --catalogue-stdin expects the document tsconverge push sends)');
  return catalogueFromDocument(Buffer.concat(chunks));
}
