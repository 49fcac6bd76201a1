/**
 * What a resource names of other resources inside its attributes, from its kind's schema:
 * the `x-ref` keyword, so that a name that is not declared in the catalogue is refused at
 * validate with file:line:column (catalogue/compile.ts), and the provider can require what
 * it names. A ref is
 *   kind    the kind of the named resource ("docker.container")
 *   from    JSON pointers into the resource whose string values are names of that kind
 *           (`/name` is the resource's name)
 *   except  names that are not resources (Docker's default network `bridge`, `outside`)
 */
import type { Resource } from '../core/types.js';
import { splitPointer } from '../core/pointer.js';

export interface RefSpec {
  readonly kind: string;
  readonly from: readonly string[];
  readonly except: readonly string[];
}

/** One name a resource gives, where it gives it, and the id it must resolve to. */
export interface NamedRef {
  readonly kind: string;
  readonly name: string;
  readonly id: string;
  readonly pointer: string;
}

/** The meta-schema of `x-ref` (ajv checks every kind schema against it). */
export const REF_META_SCHEMA = {
  type: 'array',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['kind', 'from'],
    properties: {
      kind: { type: 'string', minLength: 1 },
      from: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^/' } },
      except: { type: 'array', items: { type: 'string' } },
    },
  },
} as const;

/** The refs a kind schema declares, checked against its properties. */
export function readRefs(kind: string, schema: Readonly<Record<string, unknown>>): RefSpec[] {
  const declared = (schema['x-ref'] ?? []) as readonly { kind: string; from: string[]; except?: string[] }[];
  const properties = Object.keys((schema.properties ?? {}) as object);
  return declared.map((r) => {
    for (const p of r.from) {
      const attribute = splitPointer(p)[0];
      if (attribute === undefined || !properties.includes(attribute))
        throw new Error(`spec/kinds/${kind}.json: x-ref names "${attribute}", which is not a property of ${kind}`);
    }
    return { kind: r.kind, from: r.from, except: r.except ?? [] };
  });
}

function valueAt(r: Pick<Resource, 'attrs' | 'name'>, pointer: string): unknown {
  let cur: unknown = { ...r.attrs, name: r.name };
  for (const seg of splitPointer(pointer)) cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
  return cur;
}

/** Every name `r` gives of another resource, by its kind's refs. */
export function refsOf(specs: readonly RefSpec[], r: Pick<Resource, 'attrs' | 'name'>): NamedRef[] {
  return specs.flatMap((s) =>
    s.from.flatMap((pointer) => {
      const v = valueAt(r, pointer);
      if (typeof v !== 'string' || s.except.includes(v)) return [];
      return [{ kind: s.kind, name: v, id: `${s.kind}[${v}]`, pointer }];
    }),
  );
}
