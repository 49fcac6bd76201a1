/**
 * The catalogue as push sends it: the catalogue server's document (src/server/wire.ts)
 * plus the secret values it holds, written on the remote apply's STDIN over the SSH
 * channel. Never an argument, never a file: `tsconverge apply --catalogue-stdin` reads
 * it, registers its secrets for masking, and runs it as `apply` runs a local catalogue.
 */
import path from 'node:path';
import type { Catalogue } from '../core/types.js';
import { catalogueOf, toDocument, type CatalogueDocument } from '../server/wire.js';
import { knownSecrets, registerSecret } from '../core/redact.js';
import { TsconvergeError } from '../core/errors.js';

export interface PushDocument extends CatalogueDocument {
  /** Secret values that occur in this catalogue (and only those): the remote side masks them in all output. */
  readonly secrets?: readonly string[];
}

/** Largest document accepted on stdin (a catalogue of 10,000 resources is far below). */
export const MAX_DOCUMENT_BYTES = 256 * 1024 * 1024;

export function pushDocument(catalogue: Catalogue, at: { root: string; node: string; environment?: string }): PushDocument {
  const doc = toDocument(
    { root: path.resolve(at.root), node: at.node, environment: at.environment ?? '', role: '', modules: [], catalogue },
    'push',
    new Date().toISOString(),
  );
  const text = JSON.stringify(doc);
  // Only this host's secrets: a value compiled for another host never travels here.
  const secrets = knownSecrets().filter((s) => text.includes(JSON.stringify(s).slice(1, -1)));
  return secrets.length ? { ...doc, secrets } : doc;
}

function refused(message: string): TsconvergeError {
  return new TsconvergeError('CATALOGUE_REFUSED', message, {
    terminal: true,
    hint: 'apply --catalogue-stdin reads the JSON document tsconverge push sends; nothing was applied',
  });
}

/** The engine's catalogue from a document's bytes; its secrets are registered for masking first. */
export function catalogueFromDocument(bytes: Uint8Array): Catalogue {
  let doc: PushDocument;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as PushDocument;
  } catch {
    throw refused('the catalogue on stdin is not JSON');
  }
  if (doc === null || typeof doc !== 'object' || doc.formatVersion !== 1 || !Array.isArray(doc.resources))
    throw refused('the catalogue on stdin has an unknown format');
  for (const s of doc.secrets ?? []) if (typeof s === 'string') registerSecret(s);
  return catalogueOf(doc);
}

/** Control lines push may send after the document: ask the run to stop as on that signal. */
export const CONTROL_LINES = ['SIGINT', 'SIGTERM'] as const;
export type ControlLine = (typeof CONTROL_LINES)[number];

export interface StdinChannel {
  /** The document's catalogue (its first line, or all input when no newline comes). */
  readonly catalogue: Promise<Catalogue>;
  /** Stop reading stdin (the process can then exit). */
  close(): void;
}

/**
 * Stdin of `apply --catalogue-stdin`: the first line is the document; push keeps its end
 * open after it, and a later line `SIGINT` or `SIGTERM` asks the run to stop exactly as
 * that signal would (OpenSSH refuses to signal a root session's command, so the request
 * travels in band). Bounded: a document over MAX_DOCUMENT_BYTES is refused.
 */
export function openStdinChannel(onControl: (line: ControlLine) => void, stdin: NodeJS.ReadStream | NodeJS.ReadableStream = process.stdin): StdinChannel {
  let buffered: Buffer[] = [];
  let size = 0;
  let doc: Buffer | undefined;
  let settle: { resolve: (c: Catalogue) => void; reject: (e: unknown) => void };
  const catalogue = new Promise<Catalogue>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const finish = (bytes: Buffer): void => {
    doc = bytes;
    if (bytes.length === 0) {
      settle.reject(refused('no catalogue on stdin (apply --catalogue-stdin expects the document tsconverge push sends)'));
      return;
    }
    try {
      settle.resolve(catalogueFromDocument(bytes));
    } catch (err) {
      settle.reject(err);
    }
  };
  const onData = (chunk: Buffer | string): void => {
    let b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    for (let nl = b.indexOf(0x0a); nl >= 0; nl = b.indexOf(0x0a)) {
      const line = Buffer.concat([...buffered, b.subarray(0, nl)]);
      buffered = [];
      size = 0;
      b = b.subarray(nl + 1);
      if (doc === undefined) finish(line);
      else if ((CONTROL_LINES as readonly string[]).includes(line.toString('utf8').trim())) onControl(line.toString('utf8').trim() as ControlLine);
    }
    size += b.length;
    if (doc === undefined && size > MAX_DOCUMENT_BYTES) {
      close();
      settle.reject(refused(`the catalogue on stdin is larger than ${MAX_DOCUMENT_BYTES} bytes`));
      return;
    }
    if (b.length) buffered.push(b);
  };
  const onEnd = (): void => {
    if (doc === undefined) finish(Buffer.concat(buffered));
  };
  const close = (): void => {
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    (stdin as NodeJS.ReadStream).destroy?.();
  };
  stdin.on('data', onData);
  stdin.on('end', onEnd);
  return { catalogue, close };
}
