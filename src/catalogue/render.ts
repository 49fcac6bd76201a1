/**
 * Render handlebars templates at compile time. Templates come from the manifest or
 * module tree only; values from facts and parameters are data passed in, never
 * compiled as templates. Missing variables are errors (strict mode), so a typo in a
 * template fails the compile instead of writing an empty value to a host.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import type HandlebarsNS from 'handlebars';
import { TsconvergeError, type SourceLocation } from '../engine/errors.js';

let instance: typeof HandlebarsNS | undefined;

/** handlebars with our helpers, loaded on the first template: catalogues without templates never load it. */
function handlebars(): typeof HandlebarsNS {
  if (instance) return instance;
  const hb = (createRequire(import.meta.url)('handlebars') as typeof HandlebarsNS).create();
  hb.registerHelper('json', (v: unknown) => JSON.stringify(v));
  hb.registerHelper('join', (v: unknown, sep: unknown) => (Array.isArray(v) ? v.join(typeof sep === 'string' ? sep : ',') : ''));
  hb.registerHelper('default', (v: unknown, d: unknown) => (v === undefined || v === null || v === '' ? d : v));
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('string', (v: unknown) => String(v));
  return (instance = hb);
}

export interface RenderInput {
  readonly templatePath: string;
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly facts: Readonly<Record<string, unknown>>;
  readonly location: SourceLocation;
  readonly resource: string;
}

export async function renderTemplate(input: RenderInput): Promise<string> {
  let source: string;
  try {
    source = await readFile(input.templatePath, 'utf8');
  } catch (err) {
    throw new TsconvergeError('TEMPLATE_ERROR', `cannot read template ${input.templatePath}: ${(err as Error).message}`, {
      resource: input.resource, location: input.location, cause: err, terminal: true,
      hint: 'template paths are relative to the manifest file that names them',
    });
  }
  try {
    const tpl = handlebars().compile(source, { strict: true, noEscape: true });
    return tpl({ params: input.parameters, facts: input.facts });
  } catch (err) {
    throw new TsconvergeError('TEMPLATE_ERROR', `template ${path.basename(input.templatePath)}: ${(err as Error).message.split('\n')[0]}`, {
      resource: input.resource, location: input.location, cause: err, terminal: true,
      hint: 'templates see {{params.NAME}} for the resource\'s parameters and {{facts.NAME}} for host facts (tsconverge facts lists them)',
    });
  }
}

/**
 * Render one string from a module's own text (a value in module.yaml) with strict,
 * non-escaping handlebars. The data is passed in, never compiled: a parameter or
 * fact whose value holds `{{...}}` is inserted as it is.
 */
export function renderString(source: string, data: Readonly<Record<string, unknown>>): string {
  return handlebars().compile(source, { strict: true, noEscape: true })(data);
}
