/**
 * The one error type of tsconverge. Every error a user can see carries a stable
 * `code`, the resource it concerns (`kind[name]`) where there is one, a `hint`
 * that says what to do, and the underlying `cause`.
 *
 * Providers throw these (or anything else, which the engine wraps as
 * `PROVIDER_CRASH`); only the CLI turns them into exit codes.
 */
import { redact } from './redact.js';

export type ErrorCode =
  | 'MANIFEST_PARSE'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_NOT_FOUND'
  | 'MANIFEST_EMPTY'
  | 'UNKNOWN_KIND'
  | 'DUPLICATE_RESOURCE'
  | 'UNKNOWN_REFERENCE'
  | 'DEPENDENCY_CYCLE'
  | 'TEMPLATE_ERROR'
  | 'PROVIDER_UNSUITABLE'
  | 'PROVIDER_CRASH'
  | 'TIMEOUT'
  | 'DOCKER_UNREACHABLE'
  | 'DOCKER_API'
  | 'IMAGE_NOT_FOUND'
  | 'IMAGE_PULL_FAILED'
  | 'IMAGE_BUILD_FAILED'
  | 'IMAGE_IN_USE'
  | 'CONTAINER_START_FAILED'
  | 'VOLUME_REPLACE_REFUSED'
  | 'FILE_VALIDATE_FAILED'
  | 'FILE_IO'
  | 'PATH_OUTSIDE_ROOT'
  | 'FILE_IS_SYMLINK'
  | 'NOT_CONVERGED'
  | 'DEPENDENCY_FAILED'
  // plans an operator can trust (issue 12)
  | 'ROLLED_BACK'
  | 'REPLACE_HELD'
  | 'INVALID_VALUE'
  // host settings providers (issue 3)
  | 'CONFIG_REJECTED'
  | 'BINARY_NOT_FOUND'
  | 'SYSCTL_UNKNOWN_KEY'
  | 'SYSCTL_REFUSED'
  | 'FIREWALL_BACKEND'
  | 'FIREWALL_UNRESOLVED'
  | 'SERVICE_FAILED'
  // catalogue compiler: modules, classification, data, secrets (issue 4)
  | 'MODULE_NOT_FOUND'
  | 'MODULE_INVALID'
  | 'PARAMETER_INVALID'
  | 'DATA_INVALID'
  | 'NODE_UNCLASSIFIED'
  | 'ROLE_CONFLICT'
  | 'ENVIRONMENT_NOT_FOUND'
  | 'SECRET_MISSING'
  | 'SECRET_INSECURE'
  | 'EXPLAIN_NOT_FOUND'
  // one run at a time, interrupts (issue 8)
  | 'RUN_IN_PROGRESS'
  | 'INTERRUPTED'
  // bounded parsing and cross-resource checks (issue 8)
  | 'LIMIT_EXCEEDED'
  | 'RESOURCE_CONFLICT'
  // catalogue server, its CA and store (issue 10)
  | 'CA_ERROR'
  | 'CERT_REFUSED'
  | 'SERVER_UNREACHABLE'
  | 'CATALOGUE_REFUSED'
  | 'STORE_ERROR'
  | 'DASHBOARD_TOKEN'
  // ownership and import (issue 13)
  | 'NOT_OWNED'
  | 'COMPOSE_INVALID'
  | 'IMPORT_FAILED'
  // push over SSH (issue 14)
  | 'HOST_UNREACHABLE'
  | 'HOST_KEY_UNKNOWN'
  | 'HOST_KEY_CHANGED'
  | 'REMOTE_VERSION'
  | 'REMOTE_INSTALL_FAILED'
  | 'REMOTE_FAILED'
  // volume backups (issue 27)
  | 'BACKUP_FAILED'
  | 'BACKUP_REPOSITORY'
  | 'BACKUP_LOCKED'
  | 'RESTORE_REFUSED';

/** Where in a manifest a problem is: file, 1-based line and column, JSON pointer. */
export interface SourceLocation {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  readonly pointer?: string;
}

export interface TsconvergeErrorOptions {
  readonly resource?: string;
  readonly hint?: string;
  readonly cause?: unknown;
  readonly location?: SourceLocation;
  /** A terminal error is not retried: retrying cannot help (bad input, refused replace). */
  readonly terminal?: boolean;
}

export class TsconvergeError extends Error {
  readonly code: ErrorCode;
  readonly resource?: string;
  readonly hint?: string;
  readonly location?: SourceLocation;
  readonly terminal: boolean;

  constructor(code: ErrorCode, message: string, options: TsconvergeErrorOptions = {}) {
    // Every message and hint is masked of known secret values (core/redact.ts).
    super(redact(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TsconvergeError';
    this.code = code;
    this.resource = options.resource;
    this.hint = options.hint === undefined ? undefined : redact(options.hint);
    this.location = options.location;
    this.terminal = options.terminal ?? false;
  }

  /** One line for humans: `file:line:col: kind[name]: message (pointer)`. */
  format(): string {
    const where = this.location ? `${formatLocation(this.location)}: ` : '';
    const who = this.resource ? `${this.resource}: ` : '';
    const hint = this.hint ? `\n  hint: ${this.hint}` : '';
    return redact(`${where}${who}${this.message}${hint}`);
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: redact(this.message),
      ...(this.resource ? { resource: this.resource } : {}),
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.location ? { location: this.location } : {}),
    };
  }
}

export function formatLocation(loc: SourceLocation): string {
  let s = loc.file;
  if (loc.line !== undefined) s += `:${loc.line}`;
  if (loc.column !== undefined) s += `:${loc.column}`;
  if (loc.pointer !== undefined && loc.pointer !== '') s += ` (at ${loc.pointer})`;
  return s;
}

/** A batch of input errors, reported together so the user fixes them in one pass. */
export class ManifestErrors extends Error {
  readonly errors: readonly TsconvergeError[];
  constructor(errors: readonly TsconvergeError[]) {
    super(
      `${errors.length} error${errors.length === 1 ? '' : 's'} in the manifests:\n` + errors.map((e) => '  ' + e.format().replace(/\n/g, '\n  ')).join('\n'),
    );
    this.name = 'ManifestErrors';
    this.errors = errors;
  }
}

/** Wrap anything thrown into a TsconvergeError without losing the original. */
export function toTsconvergeError(err: unknown, resource?: string): TsconvergeError {
  if (err instanceof TsconvergeError) {
    if (resource && !err.resource) {
      return new TsconvergeError(err.code, err.message, { resource, hint: err.hint, cause: err.cause, location: err.location, terminal: err.terminal });
    }
    return err;
  }
  const message = err instanceof Error ? err.message : String(err);
  return new TsconvergeError('PROVIDER_CRASH', `unexpected error: ${message}`, {
    resource,
    cause: err,
    hint: 'this is a bug in the provider or an unexpected answer from the system; run with --log-level debug for the stack',
  });
}
