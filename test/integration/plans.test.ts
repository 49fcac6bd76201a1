/**
 * Plans an operator can trust (issue 12), against the real engine, registry and files:
 * diffs of file content, in-place container changes, consequences of a replace, the
 * health-gated swap, stateful containers held, owed restarts that survive a failed
 * run, and registry digests in a dry run without a pull.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createSandbox, runCli, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
beforeAll(() => { sb = createSandbox('hl-plans'); });
afterAll(() => sb?.cleanup());

describe('file diffs in the plan and the JSON report', () => {
  it('shows a unified diff for text, size and hash for binary, never sensitive bytes', async () => {
    const page = (title: string): string => `<html>\n<head><title>${title}</title></head>\n<body>\n<h1>Welcome</h1>\n<p>served by busybox</p>\n</body>\n</html>\n`;
    mkdirSync(path.join(sb.root, 'srv/www'), { recursive: true });
    mkdirSync(path.join(sb.root, 'etc'), { recursive: true });
    writeFileSync(path.join(sb.root, 'srv/www/index.html'), page('Old title'));
    writeFileSync(path.join(sb.root, 'srv/www/logo.bin'), Buffer.from([0, 1, 2, 3]));
    writeFileSync(path.join(sb.root, 'etc/app.secret'), 'password=hunter2\n');
    const m = sb.manifest(`
resources:
  - kind: file
    name: /srv/www/index.html
    content: ${JSON.stringify(page('New title'))}
  - kind: file
    name: /srv/www/logo.bin
    content: "not binary any more\\n"
  - kind: file
    name: /etc/app.secret
    content: "password=correct-horse\\n"
    sensitive: true
`);
    const human = await runCli(['plan', m, '--root', sb.root]);
    expect(human.code, human.stderr).toBe(2);
    expect(human.stdout).toContain([
      '  ~ file[/srv/www/index.html]',
      '      content:   # in place',
      '        @@ -1,5 +1,5 @@',
      '         <html>',
      '        -<head><title>Old title</title></head>',
      '        +<head><title>New title</title></head>',
      '         <body>',
    ].join('\n'));
    expect(human.stdout).toMatch(/content: \(binary\) "sha256:[0-9a-f]{16} \(4 bytes\)" -> "sha256:[0-9a-f]{16} \(20 bytes\)"/);
    expect(human.stdout).toContain('content: (sensitive content changed)');
    expect(human.stdout + human.stderr).not.toMatch(/hunter2|correct-horse/);

    const json = await runCli(['plan', m, '--root', sb.root, '--format', 'json']);
    const byId = new Map((json.json.resources as { id: string; changes: { diff?: string; binary?: boolean }[] }[]).map((r) => [r.id, r]));
    expect(byId.get('file[/srv/www/index.html]')!.changes[0]!.diff).toBe('@@ -1,5 +1,5 @@\n <html>\n-<head><title>Old title</title></head>\n+<head><title>New title</title></head>\n <body>\n <h1>Welcome</h1>\n <p>served by busybox</p>');
    expect(byId.get('file[/srv/www/logo.bin]')!.changes[0]!.binary).toBe(true);
    expect(byId.get('file[/etc/app.secret]')!.changes[0]!.diff).toBe('(sensitive content changed)');
    expect(json.stdout).not.toMatch(/hunter2|correct-horse/);
    // Noop: nothing changed.
    expect(readFileSync(path.join(sb.root, 'srv/www/index.html'), 'utf8')).toBe(page('Old title'));
    expect(readFileSync(path.join(sb.root, 'etc/app.secret'), 'utf8')).toBe('password=hunter2\n');
  });
});
