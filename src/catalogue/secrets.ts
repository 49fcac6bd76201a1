/**
 * Secrets: a data file refers to a secret by name (`password: !secret db_password`);
 * the value comes from outside the fleet tree, looked up in this order:
 *   1. the environment variable TSCONVERGE_SECRET_<NAME> (name upper-cased, every
 *      character other than a letter or digit written as _), then
 *   2. the file <dir>/<name>, where dir is --secrets-dir, else TSCONVERGE_SECRETS_DIR,
 *      else /etc/tsconverge/secrets. The file must be readable by its owner only
 *      (mode 0600 or 0400, or stricter): a file that group or others may read or write
 *      is an error, never a silent read; so is a directory that is not the owner's
 *      alone (mode 0700). Both errors carry the chmod that fixes them. One trailing
 *      newline is dropped.
 * The store remembers every value it handed out, so the compiler can mark every
 * attribute that holds one as sensitive (see compile.ts taintedPointers).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { TsconvergeError } from '../core/errors.js';
import type { SecretRef } from './yamltree.js';
import { registerSecret } from '../core/redact.js';

export const DEFAULT_SECRETS_DIR = '/etc/tsconverge/secrets';

export interface SecretStoreOptions {
  readonly dir?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Validation without secrets: every secret resolves to a placeholder naming it. */
  readonly placeholders?: boolean;
}

export interface SecretStore {
  readonly dir: string;
  /** The secret's value; throws SECRET_MISSING or SECRET_INSECURE naming where it was referred to. */
  resolve(ref: SecretRef): Promise<string>;
  /** Every value resolved so far. */
  values(): readonly string[];
}

export function secretEnvName(name: string): string {
  return 'TSCONVERGE_SECRET_' + name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

function stripNewline(v: string): string {
  return v.replace(/\r?\n$/, '');
}

export function createSecretStore(opts: SecretStoreOptions = {}): SecretStore {
  const env = opts.env ?? process.env;
  const dir = path.resolve(opts.dir ?? env.TSCONVERGE_SECRETS_DIR ?? DEFAULT_SECRETS_DIR);
  const seen = new Map<string, string>();
  let dirChecked: Promise<void> | undefined;
  /** The secrets directory must be the owner's alone (no group/other bits): else nothing in it is read. */
  const checkDir = (where: { location: SecretRef['location'] }): Promise<void> =>
    (dirChecked ??= (async () => {
      let st;
      try {
        st = await stat(dir);
      } catch {
        return; /* missing: each secret says so */
      }
      if (st.isDirectory() && (st.mode & 0o077) !== 0) {
        throw new TsconvergeError(
          'SECRET_INSECURE',
          `secrets directory ${dir} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}; it must be accessible by its owner only (0700), so no other user can list, read or plant secrets`,
          {
            location: where.location,
            terminal: true,
            hint: `chmod 0700 ${dir}`,
          },
        );
      }
    })());
  const resolveOne = async (ref: SecretRef): Promise<string> => {
    if (opts.placeholders) return `(secret ${ref.secret})`;
    const varName = secretEnvName(ref.secret);
    const fromEnv = env[varName];
    const where = { resource: undefined, location: ref.location, terminal: true } as const;
    if (fromEnv !== undefined) {
      if (fromEnv === '')
        throw new TsconvergeError('SECRET_MISSING', `secret "${ref.secret}" is empty (${varName} is set to "")`, {
          ...where,
          hint: `set ${varName} to the value, or unset it to read ${path.join(dir, ref.secret)}`,
        });
      return fromEnv;
    }
    await checkDir(where);
    const file = path.join(dir, ref.secret);
    let st;
    try {
      st = await stat(file);
    } catch {
      throw new TsconvergeError('SECRET_MISSING', `secret "${ref.secret}" is not set: no ${varName} in the environment and no file ${file}`, {
        ...where,
        hint: `write it with: install -m 0600 /dev/stdin ${file}  (or set ${varName}); the secrets directory is --secrets-dir or TSCONVERGE_SECRETS_DIR`,
      });
    }
    if (!st.isFile())
      throw new TsconvergeError('SECRET_MISSING', `secret "${ref.secret}": ${file} is not a regular file`, {
        ...where,
        hint: 'a secret is one file named after it',
      });
    if ((st.mode & 0o077) !== 0) {
      throw new TsconvergeError(
        'SECRET_INSECURE',
        `secret "${ref.secret}": ${file} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}; a secret file must be readable by its owner only (0600 or 0400)`,
        {
          ...where,
          hint: `chmod 0600 ${file}`,
        },
      );
    }
    const value = stripNewline(await readFile(file, 'utf8'));
    if (value === '')
      throw new TsconvergeError('SECRET_MISSING', `secret "${ref.secret}" is empty (${file})`, { ...where, hint: 'write the value into the file' });
    return value;
  };
  return {
    dir,
    async resolve(ref) {
      const known = seen.get(ref.secret);
      if (known !== undefined) return known;
      const value = await resolveOne(ref);
      seen.set(ref.secret, value);
      if (!opts.placeholders) registerSecret(value);
      return value;
    },
    values: () => [...seen.values()],
  };
}
