/** What both importers share: the generated manifest is checked against spec/ and written as YAML. */
import { stringify } from 'yaml';
import { ManifestErrors, TsconvergeError } from '../core/errors.js';
import { createSchemaRegistry } from '../spec/schemas.js';

/** The generated resources must validate against spec/: a bug here is an error, never a bad manifest. */
export function checkGenerated(resources: readonly Record<string, unknown>[]): void {
  const schemas = createSchemaRegistry();
  const errors: TsconvergeError[] = [];
  resources.forEach((r, i) => {
    const spec = schemas.kinds.get(String(r.kind));
    const valid = spec ? (spec.validate(r) as boolean) : true;
    if (spec && !valid) {
      errors.push(
        new TsconvergeError(
          'IMPORT_FAILED',
          `generated ${String(r.kind)}[${String(r.name)}] does not validate: ${spec.validate.errors?.map((e) => `${e.instancePath} ${e.message ?? ''}`).join('; ')}`,
          { location: { file: '(generated)', pointer: `/resources/${i}` }, hint: 'this is a bug in the importer; please report it with the input' },
        ),
      );
    }
  });
  if (errors.length) throw new ManifestErrors(errors);
}

export function manifestText(header: string, resources: readonly Record<string, unknown>[]): string {
  return `# ${header.split('\n').join('\n# ')}\n` + stringify({ resources }, { lineWidth: 0 });
}
