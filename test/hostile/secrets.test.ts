/**
 * Hostile input, secrets: insecure secret stores are refused with the chmod that fixes
 * them, `!secret` never becomes a literal, and no secret reaches a child's environment
 * or command line, a validate command's error, a plan, a report or a log. Real files,
 * the real CLI, real child processes; /proc/*\/environ and /proc/*\/cmdline are
 * sampled while tsconverge runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createSecretStore } from '../../src/catalogue/secrets.js';
import { SecretRef } from '../../src/catalogue/yamltree.js';
import { TsconvergeError } from '../../src/core/errors.js';
import { redact, registerSecret, clearSecrets, MASK } from '../../src/core/redact.js';
import { createProcessRunner } from '../../src/core/exec.js';
import { runCli, type CliResult } from '../support/harness.js';

let base: string;
beforeAll(() => {
  base = mkdtempSync(path.join(tmpdir(), 'tsc-hc-secrets-'));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

const ref = (name: string): SecretRef => new SecretRef(name, { file: '/fleet/data/common.yaml', line: 3, column: 5 });

function store(dirMode: number, fileMode: number): { dir: string; file: string } {
  const dir = path.join(base, `store-${randomBytes(3).toString('hex')}`);
  mkdirSync(dir);
  chmodSync(dir, dirMode);
  const file = path.join(dir, 'db_password');
  writeFileSync(file, 'S3cret-value\n');
  chmodSync(file, fileMode);
  return { dir, file };
}

describe('insecure secret stores are refused with the exact chmod', () => {
  it.each([
    ['directory 0755', 0o755, 0o600, 'dir'],
    ['directory 0777', 0o777, 0o600, 'dir'],
    ['directory 0750', 0o750, 0o600, 'dir'],
    ['directory 0711', 0o711, 0o600, 'dir'],
    ['directory 0701', 0o701, 0o600, 'dir'],
    ['file 0640', 0o700, 0o640, 'file'],
    ['file 0604', 0o700, 0o604, 'file'],
    ['file 0660 (group may write)', 0o700, 0o660, 'file'],
    ['file 0620 (group may write only)', 0o700, 0o620, 'file'],
    ['file 0602 (others may write only)', 0o700, 0o602, 'file'],
    ['file 0666', 0o700, 0o666, 'file'],
  ] as const)('%s', async (_l, dirMode, fileMode, what) => {
    const s = store(dirMode, fileMode);
    const before = `${readFileSync(s.file, 'hex')} ${statSync(s.file).mode} ${statSync(s.dir).mode}`;
    const err = await createSecretStore({ dir: s.dir, env: {} })
      .resolve(ref('db_password'))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(TsconvergeError);
    expect((err as TsconvergeError).code).toBe('SECRET_INSECURE');
    expect((err as TsconvergeError).hint).toBe(what === 'dir' ? `chmod 0700 ${s.dir}` : `chmod 0600 ${s.file}`);
    expect((err as TsconvergeError).location).toMatchObject({ file: '/fleet/data/common.yaml', line: 3, column: 5 });
    expect((err as TsconvergeError).message).not.toContain('S3cret-value');
    expect(`${readFileSync(s.file, 'hex')} ${statSync(s.file).mode} ${statSync(s.dir).mode}`).toBe(before);
  });

  it.each([
    [0o700, 0o600],
    [0o700, 0o400],
    [0o500, 0o400],
  ] as const)('directory %o with file %o is read', async (d, f) => {
    const s = store(d, f);
    expect(await createSecretStore({ dir: s.dir, env: {} }).resolve(ref('db_password'))).toBe('S3cret-value');
    chmodSync(s.dir, 0o700);
  });

  it('the CLI refuses a world-readable secrets directory with the chmod, exit 1, nothing applied', async () => {
    const s = store(0o755, 0o600);
    const fleet = path.join(base, 'fleet');
    mkdirSync(path.join(fleet, 'environments/test/manifests'), { recursive: true });
    mkdirSync(path.join(fleet, 'data'), { recursive: true });
    mkdirSync(path.join(fleet, 'modules/m/templates'), { recursive: true });
    writeFileSync(path.join(fleet, 'environments/test/manifests/site.yaml'), 'roles:\n  app: { modules: [m] }\nnodes:\n  - name: node-1\n    role: app\n');
    writeFileSync(
      path.join(fleet, 'modules/m/module.yaml'),
      'description: test module\nparameters:\n  pw: { type: string, description: a password }\nresources:\n  - kind: file\n    name: /etc/pw\n    content: "{{params.pw}}"\n',
    );
    writeFileSync(path.join(fleet, 'data/common.yaml'), 'm:\n  pw: !secret db_password\n');
    const root = path.join(base, 'fleet-root');
    mkdirSync(root);
    const r = await runCli(['apply', fleet, '--node', 'node-1', '--secrets-dir', s.dir, '--root', root]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`chmod 0700 ${s.dir}`);
    expect(r.stderr).toMatch(/common\.yaml:2:\d+/);
    expect(r.stderr + r.stdout).not.toContain('S3cret-value');
    expect(existsSync(path.join(root, 'etc'))).toBe(false);
  });
});

describe('!secret in a plain manifest is an error, never the literal name', () => {
  it.each([
    ['a file content', 'resources:\n  - kind: file\n    name: /etc/pw\n    content: !secret db_password\n', 4],
    [
      'a container environment value',
      'resources:\n  - kind: docker.container\n    name: hc-x\n    image: local/busybox:1\n    environment:\n      PW: !secret db_password\n',
      6,
    ],
    ['a nested parameter', 'resources:\n  - kind: file\n    name: /etc/pw\n    template: t.hbs\n    parameters:\n      deep: { pw: !secret db_password }\n', 6],
  ] as const)('%s', async (_l, yaml, line) => {
    const dir = mkdtempSync(path.join(base, 'plain-'));
    const root = path.join(dir, 'root');
    mkdirSync(root);
    const file = path.join(dir, 'm.yaml');
    writeFileSync(file, yaml);
    writeFileSync(path.join(dir, 't.hbs'), '{{params.deep.pw}}');
    for (const cmd of ['validate', 'apply']) {
      const r = await runCli(cmd === 'apply' ? ['apply', file, '--root', root] : ['validate', file], { TSCONVERGE_SECRET_DB_PASSWORD: 'from-env-value' });
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stderr).toContain(`${file}:${line}:`);
      expect(r.stderr).toContain('!secret db_password cannot be used in a plain manifest');
    }
    expect(existsSync(path.join(root, 'etc'))).toBe(false);
  });
});

describe('the redaction registry and the process runner', () => {
  afterAll(() => clearSecrets());
  it.each([
    ['in a message', 'password is hunter2-long', 'password is (sensitive)'],
    ['twice', 'hunter2-long/hunter2-long', '(sensitive)/(sensitive)'],
    ['one line of a multi-line key', 'bad line: MIIEvQIBADANBgkqhkiG9w0B', `bad line: ${MASK}`],
    ['nothing known', 'plain text', 'plain text'],
  ])('redact %s', (_l, input, output) => {
    registerSecret('hunter2-long');
    registerSecret('-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n-----END KEY-----');
    expect(redact(input)).toBe(output);
  });

  it('a child gets PATH, LANG and LC_ALL only, and its output is masked', async () => {
    registerSecret('child-secret-value');
    process.env.TSCONVERGE_SECRET_HC_TEST = 'child-secret-value';
    process.env.HC_PARENT_CANARY = 'parent';
    try {
      const runner = createProcessRunner();
      const r = await runner.run('/usr/bin/env', [], { env: { TSCONVERGE_SECRET_X: 'y', WANTED: '1' } });
      expect(r.stdout.trim().split('\n').sort()).toEqual(['LANG=C', 'LC_ALL=C', expect.stringMatching(/^PATH=/), 'WANTED=1'].sort());
      const echo = await runner.run('/bin/sh', ['-c', 'echo child-secret-value >&2; echo "out child-secret-value"']);
      expect(echo.stderr.trim()).toBe(MASK);
      expect(echo.stdout.trim()).toBe(`out ${MASK}`);
    } finally {
      delete process.env.TSCONVERGE_SECRET_HC_TEST;
      delete process.env.HC_PARENT_CANARY;
    }
  });

  it('a child is run without a shell: metacharacters are plain arguments', async () => {
    const marker = path.join(base, 'shell-ran');
    const r = await createProcessRunner().run('/bin/echo', [`; touch ${marker}`]);
    expect(r.stdout.trim()).toBe(`; touch ${marker}`);
    expect(existsSync(marker)).toBe(false);
  });
});

/** Sample every process's environ and cmdline while `work` runs; returns the hits. */
async function sampling<T>(needles: readonly string[], work: () => Promise<T>): Promise<{ result: T; hits: string[]; samples: number }> {
  const hits: string[] = [];
  let running = true;
  let samples = 0;
  const self = String(process.pid);
  const sampler = (async () => {
    while (running) {
      for (const pid of await readdir('/proc').catch(() => [] as string[])) {
        if (!/^\d+$/.test(pid) || pid === self) continue;
        for (const f of ['environ', 'cmdline']) {
          const text = await readFile(`/proc/${pid}/${f}`, 'utf8').catch(() => '');
          // The CLI itself is started by this test with the secret in its environment, by design.
          if (f === 'environ' && text.includes('HC_IS_TSCONVERGE_CLI=1')) continue;
          for (const n of needles) if (text.includes(n)) hits.push(`${pid} ${f}: ${text.replace(/\0/g, ' ').slice(0, 200)}`);
        }
      }
      samples++;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  try {
    return { result: await work(), hits, samples };
  } finally {
    running = false;
    await sampler;
  }
}

describe('no secret leaks through children, validate errors, plans, reports or logs', () => {
  const SECRET = `leak-canary-${randomBytes(8).toString('hex')}`;
  const env = { TSCONVERGE_SECRET_API_TOKEN: SECRET, HC_IS_TSCONVERGE_CLI: '1' };
  const noPlaintext = (r: CliResult): void => {
    expect(r.stdout).not.toContain(SECRET);
    expect(r.stderr).not.toContain(SECRET);
  };
  let dir: string;
  let root: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(base, 'leak-'));
    root = path.join(dir, 'root');
    mkdirSync(root);
  });
  const write = (yaml: string): string => {
    const f = path.join(dir, `m-${randomBytes(2).toString('hex')}.yaml`);
    writeFileSync(f, yaml);
    return f;
  };

  it('a validate command whose stderr quotes a secret: exit 4, its exit code and masked lines in the error', async () => {
    const held = path.join(dir, 'held.txt');
    writeFileSync(held, `token=${SECRET}\n`);
    const f = write(
      `resources:\n  - kind: file\n    name: conf\n    path: /etc/app.conf\n    content: "plain\\n"\n    validate: "/bin/sh -c 'cat ${held} >&2; exit 3'"\n`,
    );
    const { result: r, hits } = await sampling([SECRET], () =>
      runCli(['apply', f, '--root', root, '--format', 'json', '--log-format', 'json', '--log-level', 'debug'], env),
    );
    expect(r.code, r.stdout + r.stderr).toBe(4);
    const e = r.json.resources[0].error;
    expect(e.code).toBe('FILE_VALIDATE_FAILED');
    expect(e.message).toContain('exited 3');
    expect(e.message).toContain(`token=${MASK}`);
    noPlaintext(r);
    expect(hits).toEqual([]);
    expect(existsSync(path.join(root, 'etc/app.conf'))).toBe(false);
  });

  it('a validate command of a file holding a secret: its output is hidden altogether', async () => {
    const f = write(
      `resources:\n  - kind: file\n    name: conf\n    path: /etc/app1.conf\n    content: "token=${SECRET}\\n"\n    validate: "/bin/sh -c 'cat \\"$0\\" >&2; exit 3' %s"\n`,
    );
    const r = await runCli(['apply', f, '--root', root, '--format', 'json'], env);
    expect(r.code).toBe(4);
    expect(r.json.resources[0].error.message).toContain('exited 3');
    expect(r.json.resources[0].error.message).toContain('output hidden');
    noPlaintext(r);
  });

  it('a validate command of a sensitive file: its output is hidden altogether', async () => {
    const f = write(
      `resources:\n  - kind: file\n    name: conf\n    path: /etc/app2.conf\n    sensitive: true\n    content: "other-private-text\\n"\n    validate: "/bin/sh -c 'cat \\"$0\\" >&2; exit 5' %s"\n`,
    );
    const r = await runCli(['apply', f, '--root', root, '--format', 'json'], env);
    expect(r.code).toBe(4);
    expect(r.json.resources[0].error.message).toContain('exited 5');
    expect(r.stdout + r.stderr).not.toContain('other-private-text');
  });

  it("a validate command sees no secret and nothing of tsconverge's environment", async () => {
    const dump = path.join(dir, 'validate-env.txt');
    const f = write(`resources:\n  - kind: file\n    name: conf\n    path: /etc/app3.conf\n    content: "x\\n"\n    validate: "/bin/sh -c 'env > ${dump}'"\n`);
    const r = await runCli(['apply', f, '--root', root], { ...env, HC_PARENT_CANARY: 'parent-only' });
    expect(r.code, r.stderr).toBe(2);
    const seen = readFileSync(dump, 'utf8');
    expect(seen).not.toContain(SECRET);
    expect(seen).not.toContain('TSCONVERGE_SECRET');
    expect(seen).not.toContain('HC_PARENT_CANARY');
  });

  it('plan and apply of content holding the secret: masked in plan, report and logs; the daemon started has none', async () => {
    const f = write(
      `resources:\n  - kind: file\n    name: tok\n    path: /etc/tok\n    content: "${SECRET}"\n  - kind: service\n    name: leakd\n    provider: process\n    start: [/bin/sleep, "300"]\n    subscribe: ['file[tok]']\n`,
    );
    const plan = await runCli(['plan', f, '--root', root, '--format', 'json', '--log-level', 'debug'], env);
    expect(plan.code, plan.stderr).toBe(2);
    noPlaintext(plan);
    const {
      result: r,
      hits,
      samples,
    } = await sampling([SECRET], () => runCli(['apply', f, '--root', root, '--format', 'json', '--log-format', 'json', '--log-level', 'debug'], env));
    expect(r.code, r.stderr).toBe(2);
    noPlaintext(r);
    expect(samples).toBeGreaterThan(0);
    expect(hits).toEqual([]);
    const pid = Number(readFileSync(path.join(root, 'run/tsconverge/leakd.pid'), 'utf8'));
    try {
      expect(await readFile(`/proc/${pid}/environ`, 'utf8')).not.toContain(SECRET);
      expect(await readFile(`/proc/${pid}/environ`, 'utf8')).not.toContain('TSCONVERGE_SECRET');
    } finally {
      process.kill(pid, 'SIGKILL');
    }
    // The file holding the secret was written as declared (the secret is not masked on disk).
    expect(readFileSync(path.join(root, 'etc/tok'), 'utf8')).toBe(SECRET);
    // ... and, holding a secret, it is the owner's only.
    expect(statSync(path.join(root, 'etc/tok')).mode & 0o777).toBe(0o600);
  });
});
