/**
 * docker.image: present (pulled when missing, by tag or digest; or built from a context,
 * build.ts) or absent (removed when no container uses it). One listImages call reads every
 * image resource. With `pull: newer`, the registry is asked (without a pull) which digest
 * the tag points at now; a different one is pulled, and the containers using the tag are
 * replaced. With `build`, the context's content hash decides: the same, nothing; another,
 * a build, and the containers using the image are replaced.
 */
import type Docker from 'dockerode';
import { TsconvergeError } from '../../core/errors.js';
import type { Json, Provider, Resource, View } from '../types.js';
import type { DockerImage } from '../../generated/kinds.js';
import { dockerError, dockerUnsuitable, normaliseImageRef, pullImage, readImageIndex } from './client.js';
import { localDigest, registryDigest } from './registry.js';
import { buildImage, buildRecord, hashTag, readContext, recordOf, type BuildRecord, type ContextFile } from './build.js';

export type ImageAttrs = Omit<DockerImage, 'kind' | 'name' | 'require' | 'before' | 'notify' | 'subscribe'>;
export interface ObservedImage {
  readonly id: string;
  /** With `pull: newer`: the local image's repo digest, and the one the registry holds for the tag now. */
  readonly localDigest?: string;
  readonly registryDigest?: string;
  /** With `build`: what the local image was built from (its label), if tsconverge built it. */
  readonly built?: BuildRecord;
}

/** A build as the plan shows it: each file's hash by path (or the context's hash when it is very large), and the parameters. */
function buildView(b: BuildRecord | undefined, other: BuildRecord | undefined): Json {
  if (!b) return '(not built by tsconverge)';
  const listed = b.files !== undefined && (other === undefined || other.files !== undefined);
  return {
    context: listed ? { ...b.files } : b.hash.slice(0, 12),
    dockerfile: b.dockerfile,
    ...(b.target !== undefined ? { target: b.target } : {}),
    ...(Object.keys(b.args).length ? { args: { ...b.args } } : {}),
  };
}

const refOf = (r: Resource<ImageAttrs>): string => r.attrs.ref ?? r.name;

export function createImageProvider(docker: Docker): Provider<ImageAttrs, ObservedImage> {
  /** The contexts as read in this run, by resource: what views compare and apply sends. */
  const contexts = new Map<string, { files: ContextFile[]; record: BuildRecord }>();

  async function build(r: Resource<ImageAttrs>, ctx: Parameters<Provider<ImageAttrs, ObservedImage>['apply']>[3]): Promise<void> {
    const secretArgs = r.sensitive.filter((p) => p === 'build' || p.startsWith('/build'));
    if (secretArgs.length) {
      throw new TsconvergeError(
        'INVALID_VALUE',
        `build args ${secretArgs.map((p) => p.split('/').pop()).join(', ')} hold a secret: the engine's builder writes build args into the image history, where anyone with the image reads them; nothing was built`,
        {
          resource: r.id,
          terminal: true,
          hint: 'give the secret to the container at run time (environment or a mounted file), not to the build',
        },
      );
    }
    const spec = r.attrs.build!;
    const { files, record } =
      contexts.get(r.id) ??
      (await (async () => {
        const f = await readContext(ctx.fs, spec, r.id);
        return { files: f, record: buildRecord(spec, f) };
      })());
    const name = normaliseImageRef(refOf(r));
    const byHash = hashTag(name, record.hash);
    const index = await readImageIndex(docker);
    if (index.resolve(byHash)) {
      // built before (this context, these args): tag it again, no build
      const colon = name.lastIndexOf(':');
      await docker.getImage(byHash).tag({ repo: name.slice(0, colon), tag: name.slice(colon + 1) });
    } else {
      ctx.log.info(`${r.id}: building ${name} from ${spec.context}`);
      await buildImage(docker, spec, files, record, [byHash, name], r.id, (r.attrs.buildTimeout ?? 600) * 1000, ctx.signal);
    }
    // Earlier builds keep their hash tags: going back to an earlier context tags that image again instead of building.
  }

  return {
    kind: 'docker.image',
    suitable: () => dockerUnsuitable(docker),
    async readMany(resources, ctx) {
      const index = await readImageIndex(docker);
      for (const r of resources) {
        if (!r.attrs.build) continue;
        const files = await readContext(ctx.fs, r.attrs.build, r.id);
        contexts.set(r.id, { files, record: buildRecord(r.attrs.build, files) });
      }
      return new Map(
        await Promise.all(
          resources.map(async (r): Promise<[string, ObservedImage | null]> => {
            const id = index.resolve(refOf(r));
            if (!id) return [r.id, null];
            if (r.attrs.build) {
              const built = recordOf(index.images.find((i) => i.Id === id)?.Labels as Record<string, string> | undefined);
              return [r.id, { id, ...(built ? { built } : {}) }];
            }
            if (r.attrs.pull !== 'newer' || refOf(r).includes('@')) return [r.id, { id }];
            const local = localDigest(refOf(r), index.images.find((i) => i.Id === id)?.RepoDigests);
            try {
              return [r.id, { id, localDigest: local, registryDigest: await registryDigest(docker, refOf(r)) }];
            } catch (err) {
              ctx.log.warn(
                `${r.id}: cannot ask the registry what ${refOf(r)} points at (${(err as { json?: { message?: string } }).json?.message ?? (err as Error).message}); keeping the local image`,
              );
              return [r.id, { id }];
            }
          }),
        ),
      );
    },
    views: (r, observed): { desired: View; actual: View | null } =>
      r.attrs.build
        ? {
            desired: { ensure: 'present', ref: refOf(r), build: buildView(contexts.get(r.id)?.record, observed?.built) },
            actual: observed ? { ensure: 'present', ref: refOf(r), build: buildView(observed.built, contexts.get(r.id)?.record) } : null,
          }
        : {
            desired: { ensure: 'present', ref: refOf(r), ...(observed?.registryDigest ? { digest: observed.registryDigest } : {}) },
            actual: observed
              ? { ensure: 'present', ref: refOf(r), ...(observed.registryDigest ? { digest: observed.localDigest ?? '(none: built or tagged locally)' } : {}) }
              : null,
          },
    async apply(r, plan, observed, ctx) {
      // create: missing; replace: the tag points at a different image in the registry now.
      if ((plan.action === 'create' || plan.action === 'replace') && r.attrs.build) {
        await build(r, ctx);
        return null;
      }
      if (plan.action === 'create' || plan.action === 'replace') {
        await pullImage(docker, refOf(r), r.id, (r.attrs.pullTimeout ?? 300) * 1000, ctx.signal);
        return null;
      }
      if (plan.action === 'delete' && observed) {
        const users = await docker.listContainers({ all: true, filters: { ancestor: [observed.id] } });
        if (users.length > 0) {
          throw new TsconvergeError('IMAGE_IN_USE', `cannot remove ${refOf(r)}: used by ${users.map((c) => c.Names[0]?.replace(/^\//, '')).join(', ')}`, {
            resource: r.id,
            terminal: true,
            hint: 'remove or change the containers that use it first (declare them ensure: absent)',
          });
        }
        try {
          await docker.getImage(refOf(r)).remove();
        } catch (err) {
          throw dockerError(err, r.id, 'remove image');
        }
      }
      return null;
    },
  };
}
