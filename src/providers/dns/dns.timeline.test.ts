/**
 * dns through the real CLI against a temp root: apply -> changed; again -> nothing;
 * a hand edit -> noop reports it, exit 2, bytes and mtime untouched; apply -> repaired.
 * Lines tsconverge does not own survive every step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cli, fingerprint, reported, tempRoot } from '../hostio.testkit.js';

let t: ReturnType<typeof tempRoot>;
beforeAll(() => {
  t = tempRoot('dns-timeline');
});
afterAll(() => t?.cleanup());

describe('dns timeline', () => {
  it('apply -> changed; again -> nothing; drift -> noop reports, touches nothing; apply -> repaired', async () => {
    const root = path.join(t.root, 'root');
    mkdirSync(path.join(root, 'etc'), { recursive: true });
    writeFileSync(path.join(root, 'etc/resolv.conf'), '# written by the installer\nnameserver 1.1.1.1\noptions rotate\n');
    writeFileSync(path.join(root, 'etc/hosts'), '127.0.0.1 localhost\n10.9.9.9 handmade\n');
    const manifest = path.join(t.root, 'dns.yaml');
    writeFileSync(
      manifest,
      `
resources:
  - kind: dns
    name: resolver
    nameservers: [10.0.0.53, 10.0.1.53]
    search: [corp.example]
    options: [ndots:2, timeout:1]
    hosts:
      - address: 10.0.0.5
        names: [db.corp.example, db]
`,
    );
    const files = ['etc/resolv.conf', 'etc/hosts'];
    const run = (...extra: string[]) => cli(['apply', manifest, '--root', root, '--format', 'json', ...extra]);

    const first = await run();
    expect(first.code, first.stderr).toBe(2);
    expect(reported(first, 'dns[resolver]')).toMatchObject({ action: 'update', status: 'changed' });
    const resolv = readFileSync(path.join(root, 'etc/resolv.conf'), 'utf8');
    expect(resolv).toContain('# written by the installer\n');
    expect(resolv).toContain('search corp.example\nnameserver 10.0.0.53\nnameserver 10.0.1.53\noptions ndots:2 timeout:1\n');
    expect(resolv).not.toContain('1.1.1.1');
    expect(readFileSync(path.join(root, 'etc/hosts'), 'utf8')).toBe(
      '127.0.0.1 localhost\n10.9.9.9 handmade\n# BEGIN tsconverge managed: dns[resolver]\n10.0.0.5\tdb.corp.example db\n# END tsconverge managed: dns[resolver]\n',
    );

    const converged = fingerprint(root, files);
    const second = await run();
    expect(second.code, second.stderr).toBe(0);
    expect(fingerprint(root, files)).toBe(converged);

    // Drift by hand: a nameserver changed, a managed hosts entry edited, a foreign hosts line added.
    writeFileSync(path.join(root, 'etc/resolv.conf'), resolv.replace('nameserver 10.0.1.53', 'nameserver 8.8.8.8'));
    const hosts = readFileSync(path.join(root, 'etc/hosts'), 'utf8');
    writeFileSync(path.join(root, 'etc/hosts'), hosts.replace('10.0.0.5\t', '10.0.0.6\t') + '192.168.1.1 router\n');
    const drifted = fingerprint(root, files);
    const noop = await run('--noop');
    expect(noop.code, noop.stderr).toBe(2);
    const plan = reported(noop, 'dns[resolver]');
    expect(plan).toMatchObject({ action: 'update', status: 'pending' });
    expect(plan.changes.map((c) => c.path).sort()).toEqual(['/hosts/10.0.0.5', '/hosts/10.0.0.6', '/nameservers']);
    expect(fingerprint(root, files)).toBe(drifted);

    const repair = await run();
    expect(repair.code, repair.stderr).toBe(2);
    expect(readFileSync(path.join(root, 'etc/resolv.conf'), 'utf8')).toBe(resolv);
    expect(readFileSync(path.join(root, 'etc/hosts'), 'utf8')).toBe(hosts + '192.168.1.1 router\n');
    expect((await run()).code).toBe(0);
  });
});
