/**
 * docker.volume: one listVolumes call reads them all. A volume holds data, so a change
 * that needs it recreated is planned as a replace and refused at apply unless the
 * manifest sets allowReplace: true. Nothing is lost by surprise.
 */
import type Docker from 'dockerode';
import { TsconvergeError } from '../../core/errors.js';
import type { Json, Provider, Resource, ResourcePlan, View } from '../types.js';
import type { DockerVolume } from '../../generated/kinds.js';
import { dockerOwnership } from './ownership.js';
import { dockerError, dockerUnsuitable } from './client.js';
import { ownerLabels, userLabels } from './ownership.js';

export type VolumeAttrs = Omit<DockerVolume, 'kind' | 'name' | 'require' | 'before' | 'notify' | 'subscribe'>;
type R = Resource<VolumeAttrs>;
type VolumeInfo = { Name: string; Driver: string; CreatedAt?: string; Options?: Record<string, string> | null; Labels?: Record<string, string> | null };

function desired(a: VolumeAttrs): View {
  const v: Record<string, Json> = { driver: a.driver ?? 'local' };
  if (a.options !== undefined) v.options = { ...a.options };
  if (a.labels !== undefined) v.labels = { ...a.labels };
  return v;
}

function actual(a: VolumeAttrs, o: VolumeInfo): View {
  const v: Record<string, Json> = { driver: o.Driver };
  if (a.options !== undefined) v.options = { ...(o.Options ?? {}) };
  if (a.labels !== undefined) v.labels = userLabels(o.Labels);
  return v;
}

/** The rule plan and apply share (Provider.refuse): recreating a volume loses its data, unless the manifest accepts it. */
export function refuseVolumeChange(r: R, plan: ResourcePlan): TsconvergeError | undefined {
  if (plan.action !== 'replace' || r.attrs.allowReplace) return undefined;
  return new TsconvergeError('VOLUME_REPLACE_REFUSED', `refused: changing ${plan.forcedBy.join(', ')} needs the volume recreated, which would lose its data`, {
    resource: r.id,
    terminal: true,
    hint: 'set allowReplace: true on the volume to accept losing its data, or revert the change; the volume is left as it is',
  });
}

export function createVolumeProvider(docker: Docker): Provider<VolumeAttrs, VolumeInfo> {
  const create = (r: R) =>
    docker.createVolume({
      Name: r.name,
      Driver: r.attrs.driver ?? 'local',
      DriverOpts: { ...(r.attrs.options ?? {}) },
      Labels: { ...(r.attrs.labels ?? {}), ...ownerLabels(r.id) },
    });
  return {
    kind: 'docker.volume',
    suitable: () => dockerUnsuitable(docker),
    watch: (r) => [{ docker: 'volume', name: r.name }],
    async readMany(resources) {
      const list = ((await docker.listVolumes()).Volumes ?? []) as VolumeInfo[];
      const byName = new Map(list.map((v) => [v.Name, v]));
      return new Map(resources.map((r) => [r.id, byName.get(r.name) ?? null]));
    },
    views: (r, observed) => ({ desired: desired(r.attrs), actual: observed ? actual(r.attrs, observed) : null }),
    // A volume has no id: its name and creation time identify it for adoption records.
    ownership: (_r, v) => dockerOwnership(`volume:${v.Name}@${v.CreatedAt ?? ''}`, v.Labels),
    refuse: refuseVolumeChange,
    async apply(r, plan) {
      const refused = refuseVolumeChange(r, plan); // the engine asked already; never lose data if called directly
      if (refused) throw refused;
      try {
        if (plan.action === 'create') await create(r);
        else if (plan.action === 'replace') {
          await docker.getVolume(r.name).remove();
          await create(r);
        } else if (plan.action === 'delete') await docker.getVolume(r.name).remove();
      } catch (err) {
        throw dockerError(err, r.id, `${plan.action} volume`);
      }
      return null;
    },
  };
}
