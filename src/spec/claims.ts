/**
 * What a resource owns, from its kind's schema: the `x-claim` keyword names it, so the
 * catalogue can refuse two resources that would manage one thing and undo each other on
 * every run (catalogue/conflicts.ts). A claim is
 *   what      the namespace: "path", "container name", "sysctl", or any word a new kind
 *             needs ("user", "firewall rule"); two resources conflict when they claim the
 *             same `what` with the same value
 *   from      JSON pointers into the resource, first one declared wins (`/name` is the
 *             resource's name); a list of strings claims each element
 *   default   the value when none of `from` is declared
 *   when      claim only when one of these attributes is declared
 * Values are compared in a normal form: a path is normalised (`/srv//app/` is `/srv/app`,
 * and only absolute paths are claimed), a container name loses a leading `/`, a sysctl key
 * is written with slashes (`net.ipv4.ip_forward` is `net/ipv4/ip_forward`); any other
 * namespace compares the string as it is.
 */
import path from 'node:path';
import type { Resource } from '../core/types.js';
import { splitPointer } from '../core/pointer.js';

export interface ClaimSpec {
  readonly what: string;
  readonly from: readonly string[];
  readonly default?: string;
  readonly when: readonly string[];
}

/** One thing a resource owns, and the JSON pointer an error about it points at. */
export interface Claim {
  readonly what: string;
  readonly value: string;
  readonly pointer: string;
}

/** The meta-schema of `x-claim` (ajv checks every kind schema against it). */
export const CLAIM_META_SCHEMA = {
  type: 'array',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['what'],
    properties: {
      what: { type: 'string', minLength: 1 },
      from: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^/' } },
      default: { type: 'string' },
      when: { type: 'array', minItems: 1, items: { type: 'string' } },
    },
  },
} as const;

const NORMAL_FORMS: Readonly<Record<string, (value: string) => string | undefined>> = {
  path: (p) => (p.startsWith('/') ? path.posix.normalize(p).replace(/(.)\/$/, '$1') : undefined),
  'container name': (n) => n.replace(/^\//, ''),
  sysctl: (k) => (k.includes('/') ? k : k.replace(/\./g, '/')),
};

/** The claims a kind schema declares, checked against its properties: a pointer to no attribute is a bug in the schema. */
export function readClaims(kind: string, schema: Readonly<Record<string, unknown>>): ClaimSpec[] {
  const declared = (schema['x-claim'] ?? []) as readonly { what: string; from?: string[]; default?: string; when?: string[] }[];
  const properties = Object.keys((schema.properties ?? {}) as object);
  return declared.map((c) => {
    if (c.from === undefined && c.default === undefined) throw new Error(`spec/kinds/${kind}.json: an x-claim of "${c.what}" needs from or default`);
    for (const attribute of [...(c.from ?? []).map((p) => splitPointer(p)[0]), ...(c.when ?? [])]) {
      if (attribute === undefined || !properties.includes(attribute))
        throw new Error(`spec/kinds/${kind}.json: x-claim names "${attribute}", which is not a property of ${kind}`);
    }
    return { what: c.what, from: c.from ?? [], ...(c.default !== undefined ? { default: c.default } : {}), when: c.when ?? [] };
  });
}

function valueAt(r: Resource, pointer: string): unknown {
  let cur: unknown = { ...r.attrs, name: r.name };
  for (const seg of splitPointer(pointer)) cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
  return cur;
}

/** What `r` owns by its kind's claims. */
export function claimsOf(specs: readonly ClaimSpec[], r: Resource): Claim[] {
  const attrs = r.attrs as Readonly<Record<string, unknown>>;
  return specs.flatMap((c) => {
    if (c.when.length > 0 && !c.when.some((k) => attrs[k] !== undefined)) return [];
    const from = c.from.find((p) => valueAt(r, p) !== undefined);
    const raw = from !== undefined ? valueAt(r, from) : c.default;
    // A list of strings claims each of its elements (backup.volume's volumes).
    if (Array.isArray(raw) && from !== undefined) {
      const norm = NORMAL_FORMS[c.what] ?? ((v: string) => v);
      return raw.flatMap((v, i) => {
        const value = typeof v === 'string' ? norm(v) : undefined;
        return value === undefined ? [] : [{ what: c.what, value, pointer: `${from}/${i}` }];
      });
    }
    if (typeof raw !== 'string') return [];
    const value = (NORMAL_FORMS[c.what] ?? ((v: string) => v))(raw);
    return value === undefined ? [] : [{ what: c.what, value, pointer: from ?? '/name' }];
  });
}
