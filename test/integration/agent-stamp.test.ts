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
beforeAll(() => {
  sb = createSandbox('hm');
});
afterAll(() => sb?.cleanup());

describe("the agent's compile reuse", () => {
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
    // In a network namespace of its own: see below.
    const once = () =>
      runCli(['agent', '--onetime', '--log-level', 'debug', '--manifests', m, '--root', sb.root, '--state-dir', stateDir], {}, { netns: true });
    const reusedLine = /catalogue: the inputs are unchanged since .*is reused/;
    const compiledLine = /catalogue: compiled, (.*)/;
    // The facts are part of the stamp, network interfaces included: every container that
    // other test files start or remove adds or drops a veth interface on this host, and
    // rightly causes a compile ("compiled, the facts changed (interfaces, network)"). The
    // runs here have a network namespace of their own, whose interfaces hold still, so a
    // run with nothing changed must reuse at once.

    const first = await once();
    expect(first.code, first.stderr).toBe(2);
    expect(first.stderr).not.toMatch(reusedLine);
    expect(first.stderr).toMatch(/catalogue: compiled, no earlier compile recorded its inputs/);
    const second = await once();
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
    expect(compiledLine.exec(third.stderr)?.[1], third.stderr).toMatch(/^the manifest tree changed/);
    expect(readFileSync(path.join(sb.root, 'srv/page.txt'), 'utf8')).toBe('HELLO world\n');

    // A new file in the tree: compiled again (and it is part of the catalogue).
    sb.write('more.yaml', 'resources:\n  - kind: file\n    name: more\n    path: /srv/more.txt\n    content: "more\\n"\n');
    const fourth = await runCli(
      ['agent', '--onetime', '--log-level', 'debug', '--manifests', sb.dir, '--root', sb.root, '--state-dir', stateDir],
      {},
      { netns: true },
    );
    expect(fourth.code, fourth.stderr).toBe(2);
    expect(fourth.stderr).not.toMatch(reusedLine);
    expect(compiledLine.exec(fourth.stderr)?.[1], fourth.stderr).toMatch(/^the manifest tree changed/);
    expect(readFileSync(path.join(sb.root, 'srv/more.txt'), 'utf8')).toBe('more\n');
    const fifth = await runCli(
      ['agent', '--onetime', '--log-level', 'debug', '--manifests', sb.dir, '--root', sb.root, '--state-dir', stateDir],
      {},
      { netns: true },
    );
    expect(fifth.code, fifth.stderr).toBe(0);
    expect(fifth.stderr).toMatch(reusedLine);
  });
});
