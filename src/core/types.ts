/**
 * The shared types every floor speaks: a JSON value, a comparable view, a declared
 * resource and the compiled catalogue. The catalogue (src/catalogue) builds them, the
 * engine (src/engine) runs them, providers (src/providers) read and converge them; none
 * of those floors imports another for these names.
 */
import type { SourceLocation } from './errors.js';

/** A JSON value as the engine compares it. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };

/** A normalised, comparable form of a resource: attribute name -> value. */
export type View = { readonly [attribute: string]: Json };

/** The resolved, deep-readonly form of one declared resource. */
export interface Resource<A = Record<string, unknown>> {
  readonly kind: string;
  readonly name: string;
  /** `kind[name]`: how a resource is written everywhere. */
  readonly id: string;
  /** Declared attributes, without the relationship metaparameters. */
  readonly attrs: Readonly<A>;
  /** Where the resource was declared. */
  readonly source?: SourceLocation;
  /**
   * Values never shown: attribute names (`content`: the whole attribute) or JSON
   * pointers (`/environment/DB_PASSWORD`: one map key). See engine/diff.ts.
   */
  readonly sensitive: readonly string[];
}

/** The relationship metaparameters of a resource. */
export type Relation = 'require' | 'before' | 'notify' | 'subscribe';

/** A resource of a compiled catalogue: its relations normalised to id lists, and a locator into its declaration. */
export interface CatalogueResource extends Resource {
  readonly relations: Readonly<Record<Relation, readonly string[]>>;
  /** Locate a JSON pointer inside this resource's declaration. */
  readonly locate: (pointer: string) => SourceLocation;
}

/** The resolved, deep-readonly catalogue the engine runs (catalogue/compile.ts builds it). */
export interface Catalogue {
  /** Content hash of the resolved resources: same inputs, same version. */
  readonly version: string;
  readonly resources: readonly CatalogueResource[];
  readonly byId: ReadonlyMap<string, CatalogueResource>;
}
