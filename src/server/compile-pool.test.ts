import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { caPaths, initCa } from './ca.js';
import { CodeManager } from './code.js';
import { CompilePool } from './compile-pool.js';
import { createFacts } from '../facts/facts.js';

const FLEET = path.resolve(import.meta.dirname, '../../examples/fleet');
const work = mkdtempSync(path.join(tmpdir(), 'hs-pool-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The signed body without issuedAt (the time a manager first issued the catalogue). */
const stable = (body: Buffer): unknown => {
  const d = JSON.parse(body.toString()) as Record<string, unknown>;
  delete d.issuedAt;
  return d;
};

describe('compile worker threads', () => {
  it(
    'give the same catalogues as the main thread, and a worker failure is compiled again in the main thread for its errors',
    { timeout: 120_000 },
    async () => {
      // Workers take secrets from the environment they start with.
      for (const s of ['prod_shop_db_password', 'prod_db_password']) process.env[`TSCONVERGE_SECRET_${s.toUpperCase()}`] = 'pool-test-secret-value';
      const ca = await initCa(path.join(work, 'ca'));
      const facts = await createFacts('/', { docker: false });
      const make = (name: string, compileWorkers: number): CodeManager =>
        new CodeManager({
          fleet: FLEET,
          stateDir: path.join(work, name),
          environment: 'production',
          serverKeyPem: readFileSync(caPaths(ca.dir).serverKey, 'utf8'),
          validationFacts: facts,
          compileWorkers,
        });
      const single = make('single', 0);
      const pooled = make('pooled', 2);
      try {
        expect(pooled.workers).toBe(2);
        expect(await single.reload()).toBe(true);
        expect(await pooled.reload()).toBe(true);
        const nodes = ['web-01', 'web-03', 'db-1', 'edge-7', 'lb-01', ...Array.from({ length: 40 }, (_, i) => `${['web', 'db', 'edge'][i % 3]}-${100 + i}`)];
        const factsOf = (n: string) => ({ ...facts, hostname: n, os: { ...facts.os, codename: n.length % 2 ? 'bookworm' : 'trixie' } });
        const a = await Promise.all(nodes.map((n) => single.compile(n, factsOf(n))));
        const b = await Promise.all(nodes.map((n) => pooled.compile(n, factsOf(n))));
        for (let i = 0; i < nodes.length; i++) {
          expect(b[i]!.catalogueVersion, nodes[i]).toBe(a[i]!.catalogueVersion);
          expect(stable(b[i]!.body), nodes[i]).toEqual(stable(a[i]!.body));
        }
        // A repeat compile in the pool (cache bypassed by other facts that do not change the catalogue) gives the same bytes.
        const again = await pooled.compile('web-01', { ...factsOf('web-01'), unusedFact: 1 });
        expect(again.etag).toBe(b[0]!.etag);
        // A node no rule classifies: the error comes from the main thread's compile, with its code.
        await expect(pooled.compile('nobody-1', factsOf('nobody-1'))).rejects.toMatchObject({ code: 'NODE_UNCLASSIFIED' });
      } finally {
        await single.close();
        await pooled.close();
      }
    },
  );

  it('an idle worker exits and the next compile starts it again; the same catalogue keeps its bytes', { timeout: 60_000 }, async () => {
    const ca = await initCa(path.join(work, 'ca-idle'));
    const facts = await createFacts('/', { docker: false });
    const code = new CodeManager({
      fleet: FLEET,
      stateDir: path.join(work, 'idle'),
      environment: 'production',
      serverKeyPem: readFileSync(caPaths(ca.dir).serverKey, 'utf8'),
      validationFacts: facts,
      compileWorkers: 0,
    });
    expect(await code.reload()).toBe(true);
    const pool = new CompilePool(1, { environment: 'production', serverKeyPem: readFileSync(caPaths(ca.dir).serverKey, 'utf8') }, 100);
    try {
      const first = await pool.compile(code.current!.dir, code.current!.version, 'web-01', { ...facts, hostname: 'web-01' });
      await new Promise((r) => setTimeout(r, 600));
      expect((pool as unknown as { slots: unknown[] }).slots[0]).toBeUndefined(); // exited
      const again = await pool.compile(code.current!.dir, code.current!.version, 'web-01', { ...facts, hostname: 'web-01' }, first);
      expect(again.etag).toBe(first.etag);
      expect(again.body.equals(first.body)).toBe(true);
    } finally {
      await pool.close();
      await code.close();
    }
  });

  it('workers that fail on working catalogues are reported, and after three in a row no longer used', { timeout: 60_000 }, async () => {
    const names = ['prod_shop_db_password', 'prod_db_password'].map((n) => `TSCONVERGE_SECRET_${n.toUpperCase()}`);
    for (const n of names) delete process.env[n];
    const ca = await initCa(path.join(work, 'ca-broken'));
    const facts = await createFacts('/', { docker: false });
    const warnings: string[] = [];
    const code = new CodeManager({
      fleet: FLEET,
      stateDir: path.join(work, 'broken'),
      environment: 'production',
      serverKeyPem: readFileSync(caPaths(ca.dir).serverKey, 'utf8'),
      validationFacts: facts,
      compileWorkers: 1,
      onWorkerError: (m) => warnings.push(m),
    });
    try {
      expect(await code.reload()).toBe(true);
      // The worker starts now, with an environment that has no secrets; here too the catalogue does not compile: not the worker's fault.
      await expect(code.compile('web-10', { ...facts, hostname: 'web-10' })).rejects.toThrow();
      expect(warnings).toEqual([]);
      // Now this process has the secrets, the worker (its environment copied at start) does not.
      for (const n of names) process.env[n] = 'pool-test-secret-value';
      for (const node of ['web-11', 'web-12', 'web-13']) await code.compile(node, { ...facts, hostname: node });
      expect(warnings.filter((w) => /compile worker failed on web-1[123]/.test(w))).toHaveLength(3);
      expect(warnings).toContain('compile workers disabled after 3 failures in a row; compiling in the main thread');
      expect(code.workers).toBe(0);
      const before = warnings.length;
      await code.compile('web-14', { ...facts, hostname: 'web-14' });
      expect(warnings).toHaveLength(before);
    } finally {
      await code.close();
    }
  });
});
