/**
 * Output is streamed (issue 22): the plan of a catalogue of 100,000 file resources prints
 * whole, human and JSON, through the built CLI against a temp root, and writes nothing.
 * Before, the formatter spread every line into one `push(...)` and died with "Maximum call
 * stack size exceeded" (exit 1) after the plan was computed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createSandbox, runCli, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
let manifest: string;
const N = 100_000;
beforeAll(() => {
  sb = createSandbox('i22-stream');
  const parts: string[] = ['resources:\n'];
  for (let i = 0; i < N; i++) parts.push(`  - kind: file\n    name: /srv/many/f${i}\n    content: "x"\n`);
  manifest = path.join(sb.dir, 'many.yaml');
  writeFileSync(manifest, parts.join(''));
});
afterAll(() => sb?.cleanup());

describe('a plan of 100,000 resources', () => {
  it('prints every resource and its summary (exit 2), human and JSON, and writes nothing', async () => {
    const human = await runCli(['plan', manifest, '--root', sb.root, '--no-compile-cache']);
    expect(human.stderr).not.toMatch(/Maximum call stack|unexpected error/);
    expect(human.code, human.stderr.slice(0, 2000)).toBe(2);
    expect(human.stdout).toContain(`(${N} resources): noop, nothing will be changed`);
    expect(human.stdout).toContain('  + file[/srv/many/f0]\n');
    expect(human.stdout).toContain(`  + file[/srv/many/f${N - 1}]\n`);
    expect(human.stdout).toMatch(new RegExp(`Plan: ${N} to create, 0 to update, 0 to replace, 0 to delete, 0 to restart; 0 unchanged, 0 failed, 0 skipped`));

    const json = await runCli(['plan', manifest, '--root', sb.root, '--no-compile-cache', '--format', 'json']);
    expect(json.code, json.stderr.slice(0, 2000)).toBe(2);
    expect(json.json.resources).toHaveLength(N);
    expect(json.json.summary).toMatchObject({ total: N, pending: N });
    expect(readdirSync(sb.root)).toEqual([]);
  }, 300_000);
});
