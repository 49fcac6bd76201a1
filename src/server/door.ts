/**
 * The door: everything a node sends the catalogue server (facts, reports, certificate
 * requests) is checked before any of it is used or stored, and refused with 400 and the
 * reason, never a 500:
 *   - size: each route's body limit (413 beyond);
 *   - depth: nesting beyond MAX_JSON_DEPTH, found by a linear scan of the text before it
 *     is parsed (100,000 levels is an error, not a stack overflow);
 *   - JSON: fastify's parser, refusing `__proto__` and `constructor` keys;
 *   - strings: no NUL character and no lone surrogate in any string or key (PostgreSQL's
 *     text and jsonb cannot hold them);
 *   - shape: the JSON Schemas of spec/wire/ (facts, report, certificate request),
 *     compiled with the project's ajv.
 * The dashboard renders only stored reports that pass the report schema (isValidReport),
 * so a row stored before these checks cannot break a page.
 */
import path from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { readAssetText } from '../core/assets.js';
import { describeAjvError, usefulErrors } from '../catalogue/load.js';
import { escapeSegment } from '../core/pointer.js';
import { createAjv, SPEC_DIR } from '../spec/schemas.js';
import { NODE_NAME } from './ca.js';

/** Body limits (413 beyond): facts (and the catalogue request that carries them), reports, certificate requests. */
export const FACTS_BODY_LIMIT = 256 * 1024;
export const REPORT_BODY_LIMIT = 4 * 1024 * 1024;
export const CSR_BODY_LIMIT = 16 * 1024;

/** The `:node` of a route: a node name (ca.ts NODE_NAME), else 400. */
export const NODE_PARAMS = { type: 'object', required: ['node'], properties: { node: { type: 'string', pattern: NODE_NAME.source } } } as const;

/** Levels of objects and arrays a body may nest (a manifest's 64, and a report's own around it). */
export const MAX_JSON_DEPTH = 100;

/** An error fastify answers with 400 and this message (app.ts's error handler). */
export class BadRequest extends Error {
  readonly statusCode = 400;
}

/** True when the JSON `text` nests deeper than `max`: a linear scan, before anything is parsed. */
export function jsonDepthExceeds(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** A surrogate that is not half of a pair (String.prototype.isWellFormed, which ES2022's lib does not declare). */
const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_ALL = new RegExp(LONE.source, 'g');

/** Why the store cannot hold `s`, or undefined. */
function unstorableText(s: string): string | undefined {
  if (s.includes('\0')) return 'a NUL character (U+0000)';
  if (LONE.test(s)) return 'a lone surrogate (not valid Unicode)';
  return undefined;
}

/** A pointer made printable: NUL, control characters and lone surrogates as \uXXXX. */
const printable = (p: string): string =>
  p.replace(/[\0-\x1f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).replace(LONE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16)}`);

/** The first string or key of `v` the store cannot hold, as a message naming where; undefined when all can be. */
export function unstorable(v: unknown, at = ''): string | undefined {
  if (typeof v === 'string') {
    const why = unstorableText(v);
    return why && `${printable(at) || 'the body'} holds ${why}, which cannot be stored`;
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const bad = unstorable(v[i], `${at}/${i}`);
      if (bad) return bad;
    }
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const why = unstorableText(k);
      if (why) return `a key at ${printable(`${at}/${escapeSegment(k)}`)} holds ${why}, which cannot be stored`;
      const bad = unstorable(x, `${at}/${escapeSegment(k)}`);
      if (bad) return bad;
    }
  }
  return undefined;
}

/**
 * The JSON body parser of the server's routes: depth first (on the text), then fastify's own
 * parser, then every string. `onRaw` sees the raw bytes first (the catalogue route hashes them).
 */
export function boundedJsonParser(app: FastifyInstance, onRaw?: (req: FastifyRequest, raw: Buffer) => void) {
  const parse = app.getDefaultJsonParser('error', 'error');
  return (req: FastifyRequest, raw: string | Buffer, done: (err: Error | null, body?: unknown) => void): void => {
    const buf = typeof raw === 'string' ? Buffer.from(raw) : raw;
    onRaw?.(req, buf);
    const text = buf.toString('utf8');
    if (jsonDepthExceeds(text)) {
      done(new BadRequest(`invalid request: the body nests deeper than ${MAX_JSON_DEPTH} levels`));
      return;
    }
    void parse(req, text, (err, body) => {
      // answers through done
      if (err) {
        done(err);
        return;
      }
      const bad = unstorable(body);
      if (bad) {
        done(new BadRequest(`invalid request: ${bad}`));
        return;
      }
      done(null, body);
    });
  };
}

// ---- the schemas of spec/wire/ ---------------------------------------------------------

const WIRE = ['facts', 'report', 'certificate-request'] as const;
type WireSchema = (typeof WIRE)[number];
const idOf = (name: WireSchema): string => `https://tsconverge.dev/spec/wire/${name}.schema.json`;

/** A schema of spec/wire/ (a SEA asset in the single executable). */
export function wireSchema(name: WireSchema): Record<string, unknown> {
  const file = `spec/wire/${name}.schema.json`;
  return JSON.parse(readAssetText(file, path.join(SPEC_DIR, 'wire', `${name}.schema.json`))) as Record<string, unknown>;
}

/** The facts routes' body: `{ facts }` and nothing else. */
const FACTS_BODY = { type: 'object', required: ['facts'], additionalProperties: false, properties: { facts: { $ref: idOf('facts') } } };

interface Checks {
  readonly facts: ValidateFunction;
  readonly report: ValidateFunction;
  readonly csr: ValidateFunction;
}
let checks: Checks | undefined;
function compiled(): Checks {
  if (checks) return checks;
  const ajv = createAjv();
  for (const name of WIRE) ajv.addSchema(wireSchema(name));
  checks = { facts: ajv.compile(FACTS_BODY), report: ajv.getSchema(idOf('report'))!, csr: ajv.getSchema(idOf('certificate-request'))! };
  return checks;
}

function reasonOf(errors: readonly ErrorObject[], root: Record<string, unknown>): string {
  return usefulErrors(errors)
    .slice(0, 3)
    .map((e) => {
      const d = describeAjvError(e, root);
      return `${d.pointer ? `field ${printable(d.pointer.slice(1))}: ` : ''}${d.message}`;
    })
    .join('; ');
}

/** A preValidation hook that refuses (400, with the reason) a body the schema does not accept. */
export function checkBody(which: keyof Checks) {
  return async (req: FastifyRequest): Promise<void> => {
    const validate = compiled()[which];
    if (!validate(req.body))
      throw new BadRequest(
        `invalid request: ${reasonOf(validate.errors ?? [], which === 'facts' ? FACTS_BODY : wireSchema(which === 'csr' ? 'certificate-request' : 'report'))}`,
      );
  };
}

/** A stored report the dashboard may render: it passes the report schema and holds only storable strings. */
export function isValidReport(report: unknown): boolean {
  return compiled().report(report) && unstorable(report) === undefined;
}

/** Compile the schemas now (server start), so a broken spec/wire/ file stops the start, not a request. */
export function loadWireSchemas(): void {
  compiled();
}
