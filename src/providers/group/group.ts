/**
 * Kind `group`: a local group under the root (docs/access.md), changed with
 * groupadd/groupmod/groupdel -P ROOT, members with usermod -P ROOT. Members are a set: with `membership: minimum` (the
 * default) the view holds only the declared members that are in the group, so other
 * members are never removed; with `exact` the extra ones are drift and are removed.
 */
import type { Group } from '../../generated/kinds.js';
import { findBinary } from '../hostio.js';
import { unsuitable, type Provider, type ProviderContext, type Resource, type View } from '../types.js';
import { checkAccountName, groupsOf, readAccounts, shadowTool, withAccountsLock } from '../user/accounts.js';
import { ROOT_EQUIVALENT_GROUPS } from '../user/user.js';

export type GroupAttrs = Omit<Group, 'kind' | 'name' | 'require' | 'before' | 'notify' | 'subscribe'>;

export interface GroupObserved {
  readonly gid: number;
  readonly members: readonly string[];
}

const sorted = (xs: readonly string[]): string[] => [...new Set(xs)].sort();

export function createGroupProvider(): Provider<GroupAttrs, GroupObserved> {
  return {
    kind: 'group',
    async suitable() {
      for (const tool of ['groupadd', 'groupmod', 'groupdel']) {
        if (!(await findBinary(tool))) return unsuitable(`${tool} (Debian package passwd) was not found on PATH; it is needed to change /etc/group`);
      }
      return undefined;
    },
    async readMany(resources, ctx) {
      const accounts = await readAccounts(ctx);
      return new Map(
        resources.map((r) => {
          const g = accounts.groups.find((x) => x.name === r.name);
          const joining = (r.attrs.members ?? []).filter((m) => !g?.members.includes(m));
          if (ROOT_EQUIVALENT_GROUPS[r.name] && r.attrs.ensure !== 'absent' && joining.length > 0)
            ctx.log.warn(`${r.id}: ${joining.join(', ')} join ${r.name}: ${ROOT_EQUIVALENT_GROUPS[r.name]}`);
          return [r.id, g ? { gid: g.gid, members: sorted(g.members) } : null] as const;
        }),
      );
    },
    views(r, o) {
      if (r.attrs.ensure === 'absent') return { desired: {}, actual: o === null ? null : {} };
      const a = r.attrs;
      const desired: Record<string, View[string]> = {};
      const actual: Record<string, View[string]> = {};
      if (a.gid !== undefined) {
        desired.gid = a.gid;
        actual.gid = o?.gid ?? null;
      }
      if (a.members !== undefined) {
        desired.members = sorted(a.members);
        actual.members = (a.membership ?? 'minimum') === 'exact' ? sorted(o?.members ?? []) : sorted((o?.members ?? []).filter((m) => a.members!.includes(m)));
      }
      return { desired, actual: o === null ? null : actual };
    },
    autoRequire(r, all) {
      // Members must exist before they are listed; a user that names this group as its
      // primary group requires it instead (user.autoRequire), so only users that do not.
      const members = new Set(r.attrs.members ?? []);
      return all
        .filter(
          (x) =>
            x.kind === 'user' &&
            members.has(x.name) &&
            !((x.attrs as { groups?: string[]; group?: string }).groups ?? []).includes(r.name) &&
            (x.attrs as { group?: string }).group !== r.name,
        )
        .map((x) => x.id);
    },
    apply(r, _plan, observed, ctx) {
      return withAccountsLock(ctx, () => applyOne(r, observed, ctx));
    },
  };
}

async function applyOne(r: Resource<GroupAttrs>, observed: GroupObserved | null, ctx: ProviderContext): Promise<GroupObserved | null> {
  const name = checkAccountName(r.name, 'group', r.id);
  const a = r.attrs;
  if (a.ensure === 'absent') {
    await shadowTool('groupdel', [name], ctx, r.id);
    return null;
  }
  if (observed === null) {
    await shadowTool('groupadd', [...(a.gid !== undefined ? ['-g', String(a.gid)] : []), ...(a.system === true ? ['-r'] : []), name], ctx, r.id);
  } else if (a.gid !== undefined && a.gid !== observed.gid) {
    await shadowTool('groupmod', ['-g', String(a.gid), name], ctx, r.id);
  }
  if (a.members !== undefined) {
    // Through usermod, one member at a time: groupmod -U of shadow-utils 4.13 leaves
    // /etc/gshadow's member list behind, and grpck then fails.
    const accounts = await readAccounts(ctx, r.id);
    const now = accounts.groups.find((g) => g.name === name)?.members ?? [];
    const want = sorted(a.members);
    for (const m of want.filter((x) => !now.includes(x))) await shadowTool('usermod', ['-a', '-G', name, checkAccountName(m, 'user', r.id)], ctx, r.id);
    if ((a.membership ?? 'minimum') === 'exact') {
      for (const m of now.filter((x) => !want.includes(x))) {
        const rest = groupsOf(accounts, m).filter((g) => g !== name);
        await shadowTool('usermod', ['-G', rest.join(','), m], ctx, r.id);
      }
    }
  }
  const g = (await readAccounts(ctx, r.id)).groups.find((x) => x.name === name);
  return g ? { gid: g.gid, members: sorted(g.members) } : null;
}
