/**
 * Validators compiled at build time. This file is a placeholder: `npm run build`
 * (scripts/build-validators.mjs) replaces dist/spec/precompiled.js with ajv standalone
 * code generated from spec/, and the single executable bundles that. Where it is the
 * placeholder (tsx, vitest on src/) or older than spec/ (its digest differs), schemas.ts
 * compiles the validators from spec/ at run time instead.
 */
import type { ValidateFunction } from 'ajv';

export interface Precompiled {
  /** sha256 of spec/common.schema.json and spec/kinds/*.json (schemas.ts specDigest). */
  readonly specDigest: string;
  /** Kind schemas (with $id) and their validators, by kind. */
  readonly kinds: Readonly<Record<string, { readonly file: string; readonly schema: Record<string, unknown>; readonly validate: ValidateFunction }>>;
  readonly manifest: ValidateFunction;
}

export const precompiled: Precompiled | undefined = undefined;
