/**
 * A provider for a kind whose every resource owns one whole configuration file,
 * rendered from its attributes and checked by the daemon's own parser before it
 * replaces the old file (logrotate -d, rsyslogd -N1).
 *
 * The comparable form of both sides comes from the same parser: the desired view is
 * parse(render(attributes)), the actual view is parse(file), so whatever the renderer
 * writes reads back equal, and a line changed by hand shows as the attribute it
 * changes (or in extraLines when tsconverge does not model it).
 */
import { TsconvergeError } from '../../core/errors.js';
import { findBinary, requireBinary, readEach } from '../hostio.js';
import { unsuitable, type Provider, type ProviderContext, type Resource, type View } from '../types.js';

export interface OwnedFileAttrs {
  readonly ensure?: 'present' | 'absent';
}

export interface OwnedFileObserved {
  readonly text: string;
}

export interface OwnedFileKind<A extends OwnedFileAttrs> {
  readonly kind: string;
  /** The checker binary (looked up on PATH), its Debian package, and what it checks. */
  readonly checker: { readonly binary: string; readonly pkg: string; readonly checks: string };
  /** Absolute host path of the owned file (resolved under the root). */
  path(r: Resource<A>): string;
  render(r: Resource<A>): string;
  toView(text: string): View;
  /** Throws CONFIG_REJECTED when the checker refuses `tmp`; `target` is named in the message. Runs it through ctx.exec. */
  check(checker: string, tmp: string, content: string, target: string, r: Resource<A>, ctx: Pick<ProviderContext, 'signal' | 'exec'>): Promise<void>;
}

/** File names tsconverge writes into drop-in directories: no path separators, no hidden files. */
export function checkDropInName(name: string, resource: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new TsconvergeError('INVALID_VALUE', `name ${JSON.stringify(name)} cannot be used as a file name in a drop-in directory`, {
      resource,
      terminal: true,
      hint: 'use letters, digits, ".", "_" and "-" only, starting with a letter or digit',
    });
  }
  return name;
}

export function createOwnedFileProvider<A extends OwnedFileAttrs>(spec: OwnedFileKind<A>): Provider<A, OwnedFileObserved> {
  const readOne = async (r: Resource<A>, ctx: ProviderContext): Promise<OwnedFileObserved | null> => {
    const text = await ctx.fs.readText(spec.path(r), { resource: r.id });
    return text === null ? null : { text };
  };
  return {
    kind: spec.kind,
    watch: (r) => [{ path: spec.path(r) }],
    async suitable() {
      if (await findBinary(spec.checker.binary)) return undefined;
      return unsuitable(
        `${spec.checker.binary} (Debian package ${spec.checker.pkg}) was not found on PATH; it is needed to check ${spec.checker.checks} before they are written`,
      );
    },
    readMany: (resources, ctx) => readEach(resources, ctx, readOne),
    views(r, observed) {
      if (r.attrs.ensure === 'absent') return { desired: {}, actual: observed === null ? null : {} };
      return { desired: spec.toView(spec.render(r)), actual: observed === null ? null : spec.toView(observed.text) };
    },
    async apply(r, _plan, _observed, ctx) {
      const target = spec.path(r);
      if (r.attrs.ensure === 'absent') {
        await ctx.fs.remove(target, { resource: r.id });
        return null;
      }
      const checker = await requireBinary(spec.checker.binary, `to check ${spec.checker.checks}`, spec.checker.pkg, r.id);
      const content = spec.render(r);
      await ctx.fs.writeAtomic(target, content, {
        mode: 0o644,
        resource: r.id,
        signal: ctx.signal,
        validate: (tmp) => spec.check(checker, tmp, content, target, r, ctx),
      });
      return readOne(r, ctx);
    },
  };
}
