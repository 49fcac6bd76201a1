/**
 * The agent reuses the last catalogue while the inputs of its compile are unchanged (a
 * stat-based stamp of the manifest tree, src/catalogue/stamp.ts), and compiles again as soon
 * as anything under the tree changes: a template edited in place with its size and
 * mtime kept, a new manifest file. Real runs (`agent --onetime`) on real files.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createSandbox, runCli, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
beforeAll(() => { sb = createSandbox('hm'); });
afterAll(() => sb?.cleanup());

describe('the agent\'s compile reuse', () => {
  it('reuses the catalogue while the tree is unchanged, compiles again after any change under it', async () => {
    const stateDir = path.join(sb.root, 'state');
    sb.write('templates/page.hbs', 'hello {{params.name}}\n');
    const m = sb.manifest(`
resources:
  - kind: file
    name: page
    path: /srv/page.txt
    template: templates/page.hbs
    parameters: { name: world }
`);
    const once = () => runCli(['agent', '--onetime', '--log-level', 'debug', '--manifests', m, '--root', sb.root, '--state-dir', stateDir]);
    const reusedLine = /catalogue: the inputs are unchanged since .*is reused/;
    // The facts are part of the stamp, network interfaces included: containers and networks
    // that other test files create and remove meanwhile change them and rightly cause a
    // compile. A run with nothing changed must reuse; allow two more runs for that churn.
    const reusedSoon = async (run: () => ReturnType<typeof once>) => {
      let r = await run();
      for (let i = 0; i < 2 && r.code === 0 && !reusedLine.test(r.stderr); i++) r = await run();
      return r;
    };

    const first = await once();
    expect(first.code, first.stderr).toBe(2);
    expect(first.stderr).not.toMatch(reusedLine);
    const second = await reusedSoon(once);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(reusedLine);

    // The template edited in place: same size, mtime put back. Its ctime still moves: compiled again.
    const tpl = path.join(sb.dir, 'templates/page.hbs');
    const before = statSync(tpl);
    writeFileSync(tpl, 'HELLO {{params.name}}\n');
    utimesSync(tpl, before.atime, before.mtime);
    const third = await once();
    expect(third.code, third.stderr).toBe(2);
    expect(third.stderr).not.toMatch(reusedLine);
    expect(readFileSync(path.join(sb.root, 'srv/page.txt'), 'utf8')).toBe('HELLO world\n');

    // A new file in the tree: compiled again (and it is part of the catalogue).
    sb.write('more.yaml', 'resources:\n  - kind: file\n    name: more\n    path: /srv/more.txt\n    content: "more\\n"\n');
    const fourth = await runCli(['agent', '--onetime', '--log-level', 'debug', '--manifests', sb.dir, '--root', sb.root, '--state-dir', stateDir]);
    expect(fourth.code, fourth.stderr).toBe(2);
    expect(fourth.stderr).not.toMatch(reusedLine);
    expect(readFileSync(path.join(sb.root, 'srv/more.txt'), 'utf8')).toBe('more\n');
    const fifth = await reusedSoon(() => runCli(['agent', '--onetime', '--log-level', 'debug', '--manifests', sb.dir, '--root', sb.root, '--state-dir', stateDir]));
    expect(fifth.code, fifth.stderr).toBe(0);
    expect(fifth.stderr).toMatch(reusedLine);
  });
});
