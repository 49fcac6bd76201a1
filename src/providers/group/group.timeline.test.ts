/**
 * group through the real CLI against a temp root, changed by the real groupadd/groupmod
 * -P ROOT, checked by grpck -r (and pwck -r) after every apply.
 *
 * Timeline: apply -> changed; again -> nothing; hand edits (gid changed, a member added,
 * a member removed) -> noop reports them, exit 2, nothing touched; apply -> repaired.
 * membership: minimum keeps a member added by hand. Joining docker warns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cli, fingerprint, reported, tempRoot } from '../hostio.testkit.js';
import { CLEAN, checkAccountFiles, seedRoot } from '../user/accounts.testkit.js';

let t: ReturnType<typeof tempRoot>;
let root: string;
beforeAll(() => {
  t = tempRoot('i26-group');
  root = path.join(t.root, 'root');
  seedRoot(root, {
    passwd: 'i26-ivy:x:2660:2660::/home:/bin/sh\ni26-jack:x:2661:2660::/home:/bin/sh\ni26-kim:x:2662:2660::/home:/bin/sh\n',
    shadow: 'i26-ivy:*:20000:0:99999:7:::\ni26-jack:*:20000:0:99999:7:::\ni26-kim:*:20000:0:99999:7:::\n',
    group: 'i26-staff:x:2660:\n',
    gshadow: 'i26-staff:!::\n',
  });
});
afterAll(() => t?.cleanup());

function manifest(name: string, membership: string): string {
  const file = path.join(t.root, name);
  writeFileSync(
    file,
    `
resources:
  - kind: group
    name: i26-web
    gid: 2670
    members: [i26-ivy, i26-jack]
    membership: ${membership}
  - kind: group
    name: docker
    system: true
    members: [i26-kim]
`,
  );
  return file;
}

const files = ['etc/group', 'etc/gshadow'];
const line = (file: string, name: string): string =>
  readFileSync(path.join(root, 'etc', file), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`)) ?? '';
const setLine = (file: string, name: string, to: string): void => {
  const p = path.join(root, 'etc', file);
  writeFileSync(
    p,
    readFileSync(p, 'utf8')
      .split('\n')
      .map((l) => (l.startsWith(`${name}:`) ? to : l))
      .join('\n'),
  );
};

describe('group timeline', () => {
  it('apply -> changed; again -> nothing; drift -> noop reports, touches nothing; apply -> repaired', async () => {
    const m = manifest('groups.yaml', 'exact');
    const run = (...extra: string[]) => cli(['apply', m, '--root', root, '--format', 'json', ...extra]);
    const first = await run();
    expect(first.code, first.stdout + first.stderr).toBe(2);
    expect(reported(first, 'group[i26-web]')).toMatchObject({ action: 'create', status: 'changed' });
    expect(first.stderr).toMatch(/group\[docker\]: i26-kim join docker: membership of docker is root-equivalent/);
    expect(line('group', 'i26-web')).toBe('i26-web:x:2670:i26-ivy,i26-jack');
    expect(line('gshadow', 'i26-web')).toBe('i26-web:!::i26-ivy,i26-jack');
    expect(line('group', 'docker')).toMatch(/^docker:x:\d{3}:i26-kim$/);
    expect(checkAccountFiles(root)).toBe(CLEAN);

    const converged = fingerprint(root, files);
    const again = await run();
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/root-equivalent/);
    expect(fingerprint(root, files)).toBe(converged);

    setLine('group', 'i26-web', 'i26-web:x:2671:i26-ivy,i26-kim');
    setLine('gshadow', 'i26-web', 'i26-web:!::i26-ivy,i26-kim');
    const drifted = fingerprint(root, files);
    const noop = await run('--noop');
    expect(noop.code, noop.stdout + noop.stderr).toBe(2);
    const changes = reported(noop, 'group[i26-web]').changes;
    expect(changes.map((c) => [c.attribute, c.from, c.to]).sort()).toEqual([
      ['gid', 2671, 2670],
      ['members', ['i26-ivy', 'i26-kim'], ['i26-ivy', 'i26-jack']],
    ]);
    expect(fingerprint(root, files)).toBe(drifted);

    const repair = await run();
    expect(repair.code, repair.stdout + repair.stderr).toBe(2);
    expect(line('group', 'i26-web')).toBe('i26-web:x:2670:i26-ivy,i26-jack');
    expect(checkAccountFiles(root)).toBe(CLEAN);
    expect((await run()).code).toBe(0);
  });

  it('membership: minimum keeps a member added by hand and adds a missing one', async () => {
    setLine('group', 'i26-web', 'i26-web:x:2670:i26-kim');
    setLine('gshadow', 'i26-web', 'i26-web:!::i26-kim');
    const m = manifest('groups-min.yaml', 'minimum');
    const run = await cli(['apply', m, '--root', root, '--format', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(2);
    expect(reported(run, 'group[i26-web]').changes.map((c) => [c.attribute, c.from, c.to])).toEqual([['members', [], ['i26-ivy', 'i26-jack']]]);
    expect(line('group', 'i26-web')).toBe('i26-web:x:2670:i26-kim,i26-ivy,i26-jack');
    expect(checkAccountFiles(root)).toBe(CLEAN);
    expect((await cli(['apply', m, '--root', root])).code).toBe(0);
  });
});
