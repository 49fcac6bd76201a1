/**
 * Bad backup.volume input is refused before anything runs, with file:line:column and the
 * field: a cron field out of range, a relative repository, an empty keep, one volume backed
 * up twice. Through the real CLI (validate and plan); nothing is created.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { cli, tempRoot } from '../hostio.testkit.js';

let t: ReturnType<typeof tempRoot>;
beforeAll(() => {
  t = tempRoot('backup-input');
});
afterAll(() => t?.cleanup());

const base = '  - kind: backup.volume\n    name: db\n    volumes: [pg]\n    repository: /srv/restic\n    passwordFile: /etc/pw\n';

describe('backup.volume bad input', () => {
  it.each([
    [
      'a cron field out of range',
      `${base}    every: "61 3 * * *"\n`,
      /m\.yaml:7:5 .*field every: "61 3 \* \* \*" is not valid here; accepted: a duration .* cron expression/s,
    ],
    ['a duration of zero', `${base}    every: 0h\n`, /m\.yaml:7:5 .*field every: "0h"/s],
    ['a relative repository', base.replace('/srv/restic', 'srv/restic'), /m\.yaml:5:5 .*field repository/s],
    ['an empty keep', `${base}    keep: {}\n`, /m\.yaml:7:5 .*field keep/s],
    [
      'one volume backed up twice',
      `${base}  - kind: backup.volume\n    name: again\n    volumes: [logs, pg]\n    repository: /srv/other\n    passwordFile: /etc/pw\n`,
      /m\.yaml:9:21 .*volume backup pg is managed twice: here and by backup\.volume\[db\]/s,
    ],
  ])('%s', async (_what, body, message) => {
    const file = path.join(t.root, 'm.yaml');
    writeFileSync(file, `resources:\n${body}`);
    for (const cmd of ['validate', 'plan']) {
      const r = await cli([cmd, file, ...(cmd === 'plan' ? ['--root', t.root] : [])]);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout + r.stderr).toMatch(message);
    }
  });

  it('a valid cron expression and duration pass', async () => {
    const file = path.join(t.root, 'ok.yaml');
    writeFileSync(
      file,
      `resources:\n${base}    every: "*/15 1-5,22 * 1-12 0-7"\n  - kind: backup.volume\n    name: b\n    volumes: [x]\n    repository: "sftp:u@h:/r"\n    password: something-long\n    every: 7d\n`,
    );
    const r = await cli(['validate', file]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});
