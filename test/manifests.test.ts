/**
 * manifests/ at the top of the repository: the default PATH of validate, plan and apply.
 * Run without a PATH from the repository, they read it; the starting point validates,
 * plans without touching anything, converges into a temp root and then has nothing to do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createSandbox, REPO, runCli, type Sandbox } from './support/harness.js';

let sb: Sandbox;
beforeAll(() => {
  sb = createSandbox('manifests');
});
afterAll(() => sb?.cleanup());

describe('manifests/ (the default PATH)', () => {
  it('is what validate reads without a PATH, and it validates', async () => {
    expect(process.cwd()).toBe(REPO);
    const res = await runCli(['validate']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout + res.stderr).toMatch(/1 resource/);
  });

  it('plan without a PATH changes nothing; apply converges it; apply again has nothing to do', async () => {
    const readme = path.join(sb.root, 'etc/tsconverge/README');
    const plan = await runCli(['plan', '--root', sb.root, '--format', 'json']);
    expect(plan.code, plan.stderr).toBe(2);
    expect(plan.json.resources.map((r: { id: string; action: string }) => [r.id, r.action])).toEqual([['file[/etc/tsconverge/README]', 'create']]);
    expect(existsSync(readme)).toBe(false);

    const apply = await runCli(['apply', '--root', sb.root, '--format', 'json']);
    expect(apply.code, apply.stderr).toBe(2);
    expect(readFileSync(readme, 'utf8')).toMatch(/^This host is converged by tsconverge\./);

    const again = await runCli(['apply', '--root', sb.root, '--format', 'json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json.summary.changed).toBe(0);
  });
});
