/**
 * docker.image: present (pulled when missing, by tag or digest) or absent (removed when
 * no container uses it). One listImages call reads every image resource. With
 * `pull: newer`, the registry is asked (without a pull) which digest the tag points at
 * now; a different one is pulled, and the containers using the tag are replaced.
 */
import type Docker from 'dockerode';
import { TsconvergeError } from '../../core/errors.js';
import type { Provider, Resource } from '../types.js';
import type { DockerImage } from '../../generated/kinds.js';
import { dockerError, dockerUnsuitable, pullImage, readImageIndex } from './client.js';
import { localDigest, registryDigest } from './registry.js';

export type ImageAttrs = Omit<DockerImage, 'kind' | 'name' | 'require' | 'before' | 'notify' | 'subscribe'>;
export interface ObservedImage {
  readonly id: string;
  /** With `pull: newer`: the local image's repo digest, and the one the registry holds for the tag now. */
  readonly localDigest?: string;
  readonly registryDigest?: string;
}

const refOf = (r: Resource<ImageAttrs>): string => r.attrs.ref ?? r.name;

export function createImageProvider(docker: Docker): Provider<ImageAttrs, ObservedImage> {
  return {
    kind: 'docker.image',
    suitable: () => dockerUnsuitable(docker),
    async readMany(resources, ctx) {
      const index = await readImageIndex(docker);
      return new Map(await Promise.all(resources.map(async (r): Promise<[string, ObservedImage | null]> => {
        const id = index.resolve(refOf(r));
        if (!id) return [r.id, null];
        if (r.attrs.pull !== 'newer' || refOf(r).includes('@')) return [r.id, { id }];
        const local = localDigest(refOf(r), index.images.find((i) => i.Id === id)?.RepoDigests);
        try {
          return [r.id, { id, localDigest: local, registryDigest: await registryDigest(docker, refOf(r)) }];
        } catch (err) {
          ctx.log.warn(`${r.id}: cannot ask the registry what ${refOf(r)} points at (${(err as { json?: { message?: string } }).json?.message ?? (err as Error).message}); keeping the local image`);
          return [r.id, { id }];
        }
      })));
    },
    views: (r, observed) => ({
      desired: { ensure: 'present', ref: refOf(r), ...(observed?.registryDigest ? { digest: observed.registryDigest } : {}) },
      actual: observed ? { ensure: 'present', ref: refOf(r), ...(observed.registryDigest ? { digest: observed.localDigest ?? '(none: built or tagged locally)' } : {}) } : null,
    }),
    async apply(r, plan, observed, ctx) {
      // create: missing; replace: the tag points at a different image in the registry now.
      if (plan.action === 'create' || plan.action === 'replace') {
        await pullImage(docker, refOf(r), r.id, (r.attrs.pullTimeout ?? 300) * 1000, ctx.signal);
        return null;
      }
      if (plan.action === 'delete' && observed) {
        const users = await docker.listContainers({ all: true, filters: { ancestor: [observed.id] } });
        if (users.length > 0) {
          throw new TsconvergeError('IMAGE_IN_USE', `cannot remove ${refOf(r)}: used by ${users.map((c) => c.Names[0]?.replace(/^\//, '')).join(', ')}`, {
            resource: r.id, terminal: true, hint: 'remove or change the containers that use it first (declare them ensure: absent)',
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
