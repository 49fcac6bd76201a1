/**
 * docker.image: present (pulled when missing, by tag or digest) or absent (removed when
 * no container uses it). One listImages call reads every image resource.
 */
import type Docker from 'dockerode';
import { TsconvergeError } from '../../engine/errors.js';
import type { Provider, Resource } from '../types.js';
import type { DockerImage } from '../../generated/kinds.js';
import { dockerError, dockerUnavailableReason, pullImage, readImageIndex } from './client.js';

export type ImageAttrs = Omit<DockerImage, 'kind' | 'name' | 'require' | 'before' | 'notify' | 'subscribe'>;
export interface ObservedImage { readonly id: string }

const refOf = (r: Resource<ImageAttrs>): string => r.attrs.ref ?? r.name;

export function createImageProvider(docker: Docker): Provider<ImageAttrs, ObservedImage> {
  return {
    kind: 'docker.image',
    suitable: () => dockerUnavailableReason(docker),
    async readMany(resources) {
      const index = await readImageIndex(docker);
      return new Map(resources.map((r) => {
        const id = index.resolve(refOf(r));
        return [r.id, id ? { id } : null];
      }));
    },
    views: (r, observed) => ({
      desired: { ensure: 'present', ref: refOf(r) },
      actual: observed ? { ensure: 'present', ref: refOf(r) } : null,
    }),
    async apply(r, plan, observed, ctx) {
      if (plan.action === 'create') {
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
