/**
 * Hostile input, confinement: a manifest reaches nothing outside --root. Real files in
 * a temp root, the real CLI, real processes, the real Docker engine. Every case plants
 * sentinel files OUTSIDE the root (and files inside it) and proves, after the run, that
 * their bytes, mtime and mode did not change, besides the exit code and an error that
 * names the resource.
 *
 * Part 1 drives the confined file system (ctx.fs) directly: every operation against
 * every way out. Part 2 drives the CLI with manifests of every path-carrying kind.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createRootFs, TEMP_PREFIX, type RootFs } from '../../src/core/rootfs.js';
import { TsconvergeError } from '../../src/core/errors.js';
import { docker, requireDocker, runCli } from '../support/harness.js';
import { alive } from '../../src/providers/hostio.testkit.js';

/**
 * Bytes, mtime and mode of every entry under `dir` (links by their target, directories
 * by mode and entries; a directory's mtime moves when a refused temp file comes and
 * goes): equal means untouched.
 */
function tree(dir: string): string {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = lstatSync(p);
      const what = st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : st.isDirectory() ? 'dir' : readFileSync(p, 'hex');
      out.push(`${path.relative(dir, p)} ${what} ${st.isDirectory() ? '' : st.mtimeMs} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.join('\n');
}

interface World {
  readonly base: string;
  readonly root: string;
  readonly outside: string;
  readonly manifests: string;
}

/** A temp root with a symlinked dir and file pointing out, and sentinels outside it. */
function createWorld(): World {
  const base = mkdtempSync(path.join(tmpdir(), 'tsc-hc-'));
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  const manifests = path.join(base, 'manifests');
  for (const d of [root, outside, manifests, path.join(outside, 'dir'), path.join(root, 'etc'), path.join(root, 'srv/data')]) mkdirSync(d, { recursive: true });
  writeFileSync(path.join(outside, 'sentinel.txt'), 'do not touch\n');
  chmodSync(path.join(outside, 'sentinel.txt'), 0o640);
  writeFileSync(path.join(outside, 'dir/inner.txt'), 'inner\n');
  writeFileSync(path.join(outside, 'daemon.json'), '{"keep": true}\n');
  writeFileSync(path.join(root, 'etc/motd'), 'hello\n');
  writeFileSync(path.join(root, 'srv/data/keep.txt'), 'keep\n');
  symlinkSync(outside, path.join(root, 'link-out')); // a directory inside the root pointing out
  symlinkSync(path.join(outside, 'sentinel.txt'), path.join(root, 'file-out')); // a file link pointing out
  symlinkSync('/etc', path.join(root, 'abs-etc')); // an absolute link to the machine's /etc
  symlinkSync('../../outside', path.join(root, 'srv/rel-out')); // a relative link climbing out
  symlinkSync(path.join(root, 'srv/data'), path.join(root, 'link-in')); // a link that stays inside
  return { base, root, outside, manifests };
}

// ---------------------------------------------------------------------------
// Part 1: ctx.fs, every operation against every way out.

type Op = (fs: RootFs, p: string) => Promise<unknown>;
const OPS: Record<string, Op> = {
  readText: (fs, p) => fs.readText(p),
  readBytes: (fs, p) => fs.readBytes(p),
  lstat: (fs, p) => fs.lstat(p),
  stat: (fs, p) => fs.stat(p),
  writeAtomic: (fs, p) => fs.writeAtomic(p, 'pwned\n', { mode: 0o777 }),
  mkdirp: (fs, p) => fs.mkdirp(p),
  chmod: (fs, p) => fs.chmod(p, 0o777),
  chown: (fs, p) => fs.chown(p, 65534, 65534),
  remove: (fs, p) => fs.remove(p, { recursive: true }),
  readdir: (fs, p) => fs.readdir(p),
  createExclusive: (fs, p) => fs.createExclusive(p, 'pwned\n'),
  resolve: (fs, p) => fs.resolve(p, { follow: true }),
};

const WAYS_OUT: Record<string, string> = {
  'a .. component': '/../outside/sentinel.txt',
  '.. after a real directory': '/etc/../../outside/sentinel.txt',
  'many ..': '/../../../../../../tmp',
  'a symlinked dir pointing out': '/link-out/sentinel.txt',
  'an absolute link to /etc': '/abs-etc/passwd',
  'a relative link climbing out': '/srv/rel-out/dir/inner.txt',
  'a relative path': 'etc/motd',
};

describe('ctx.fs refuses every way out, for every operation', () => {
  let w: World;
  let fs: RootFs;
  let outsideBefore: string;
  let rootBefore: string;
  let etcBefore: string;
  beforeAll(() => {
    w = createWorld();
    fs = createRootFs(w.root);
    outsideBefore = tree(w.outside);
    rootBefore = tree(w.root);
    etcBefore = `${statSync('/etc/passwd').mtimeMs} ${statSync('/etc/passwd').mode}`;
  });
  afterAll(() => rmSync(w.base, { recursive: true, force: true }));

  const cases = Object.entries(WAYS_OUT).flatMap(([way, p]) => Object.keys(OPS).map((op) => [`${op} via ${way}`, op, p] as const));
  it.each(cases)('%s', async (_label, op, p) => {
    const err = await OPS[op]!(fs, p).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TsconvergeError);
    expect((err as TsconvergeError).code).toBe('PATH_OUTSIDE_ROOT');
    expect((err as TsconvergeError).message).toContain(JSON.stringify(p));
    expect(tree(w.outside)).toBe(outsideBefore);
    expect(tree(w.root)).toBe(rootBefore);
    expect(`${statSync('/etc/passwd').mtimeMs} ${statSync('/etc/passwd').mode}`).toBe(etcBefore);
  });

  // A symlink as the final component pointing out: followed by nothing that reads or
  // changes through it (lstat, remove and a write replace the link itself, confined).
  it.each(['readText', 'readBytes', 'stat', 'chmod', 'chown', 'readdir', 'mkdirp', 'resolve'])('%s of a final symlink pointing out', async (op) => {
    const err = await OPS[op]!(fs, '/file-out').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as TsconvergeError).code).toBe('PATH_OUTSIDE_ROOT');
    expect(tree(w.outside)).toBe(outsideBefore);
    expect(tree(w.root)).toBe(rootBefore);
  });

  it('a link that stays inside the root is followed (and only then)', async () => {
    expect(await fs.readText('/link-in/keep.txt')).toBe('keep\n');
    expect(await fs.resolve('/link-in/keep.txt')).toBe(path.join(w.root, 'srv/data/keep.txt'));
  });

  it('the root itself is never removed or written as a file', async () => {
    await expect(fs.remove('/', { recursive: true })).rejects.toMatchObject({ code: 'PATH_OUTSIDE_ROOT' });
    await expect(fs.writeAtomic('/', 'x')).rejects.toMatchObject({ code: 'PATH_OUTSIDE_ROOT' });
    expect(tree(w.root)).toBe(rootBefore);
  });

  it('a non-empty directory is removed only when recursive is asked for', async () => {
    await expect(fs.remove('/srv/data')).rejects.toMatchObject({ code: 'FILE_IO', message: expect.stringContaining('force: true') });
    expect(tree(w.root)).toBe(rootBefore);
  });
});

describe('ctx.fs atomic writes', () => {
  let w: World;
  let fs: RootFs;
  beforeEach(() => {
    w = createWorld();
    fs = createRootFs(w.root);
  });
  afterAll(() => rmSync(w.base, { recursive: true, force: true }));

  it('a refused validate removes its temp file and keeps the old bytes', async () => {
    const before = tree(w.root);
    await expect(
      fs.writeAtomic('/etc/motd', 'new\n', {
        validate: async () => {
          throw new Error('no');
        },
      }),
    ).rejects.toThrow();
    expect(tree(w.root)).toBe(before);
  });

  it('an aborted write removes its temp file and keeps the old bytes', async () => {
    const before = tree(w.root);
    const ac = new AbortController();
    ac.abort();
    await expect(fs.writeAtomic('/etc/motd', 'new\n', { signal: ac.signal })).rejects.toThrow(/cancelled/);
    expect(tree(w.root)).toBe(before);
  });

  it('the mode is set before the rename, and the next write sweeps temp files a kill -9 left', async () => {
    writeFileSync(path.join(w.root, 'etc', `${TEMP_PREFIX}deadbeef`), 'half a file');
    await fs.writeAtomic('/etc/secret.conf', 'k=v\n', { mode: 0o600 });
    expect(statSync(path.join(w.root, 'etc/secret.conf')).mode & 0o777).toBe(0o600);
    expect(readdirSync(path.join(w.root, 'etc')).filter((n) => n.startsWith(TEMP_PREFIX))).toEqual([]);
  });

  it('a write to a path whose final component is a link pointing out replaces the link, never the target', async () => {
    const before = tree(w.outside);
    await fs.writeAtomic('/file-out', 'mine\n');
    expect(lstatSync(path.join(w.root, 'file-out')).isFile()).toBe(true);
    expect(tree(w.outside)).toBe(before);
  });
});

// ---------------------------------------------------------------------------
// Part 2: the CLI, every path-carrying kind.

interface CliCase {
  readonly label: string;
  /** The resources (YAML list items, indented by 2); ROOT/OUTSIDE/PREFIX/LABEL are substituted. */
  readonly yaml: string;
  /** Extra setup in the world before the run. */
  readonly setup?: (w: World) => void;
  readonly id: string;
  /**
   * Exit 4: refused by the provider at run time, error in the report on the resource.
   * Exit 1: refused at validate time, error names file:line:col. A `..` in a path is
   * refused by whichever comes first (the schema, or ctx.fs), so those accept both.
   */
  readonly exit: readonly number[];
  readonly code: string;
}

const R = (s: string): string => s;
const CLI_CASES: readonly CliCase[] = [
  {
    label: 'file path with ..',
    id: 'file[x]',
    exit: [1, 4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: file\n  name: x\n  path: /../outside/pwned\n  content: "pwned\\n"`),
  },
  {
    label: 'file path /etc/../../',
    id: 'file[x]',
    exit: [1, 4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: file\n  name: x\n  path: /etc/../../outside/sentinel.txt\n  content: "pwned\\n"`),
  },
  {
    label: 'file name used as a path with ..',
    id: 'file[/../../outside/sentinel.txt]',
    exit: [1, 4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: file\n  name: /../../outside/sentinel.txt\n  content: "pwned\\n"`),
  },
  {
    label: 'file ensure absent with .. (recursive delete outside)',
    id: 'file[x]',
    exit: [1, 4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: file\n  name: x\n  path: /../outside\n  ensure: absent\n  force: true`),
  },
  {
    label: 'file ensure directory with ..',
    id: 'file[x]',
    exit: [1, 4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: file\n  name: x\n  path: /../outside/newdir\n  ensure: directory`),
  },
  {
    label: 'file through a symlinked dir pointing out',
    id: 'file[x]',
    exit: [4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: file\n  name: x\n  path: /link-out/pwned\n  content: "pwned\\n"`),
  },
  {
    label: 'file overwrite through a symlinked dir pointing out',
    id: 'file[x]',
    exit: [4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: file\n  name: x\n  path: /link-out/sentinel.txt\n  content: "pwned\\n"`),
  },
  {
    label: 'file mode change through a symlinked dir',
    id: 'file[x]',
    exit: [4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: file\n  name: x\n  path: /link-out/sentinel.txt\n  mode: "0777"`),
  },
  {
    label: 'file delete through a symlinked dir',
    id: 'file[x]',
    exit: [4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: file\n  name: x\n  path: /link-out/dir\n  ensure: absent\n  force: true`),
  },
  {
    label: 'file through an absolute link to /etc',
    id: 'file[x]',
    exit: [4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: file\n  name: x\n  path: /abs-etc/tsconverge-pwned\n  content: "pwned\\n"`),
  },
  {
    label: 'file through a relative link climbing out',
    id: 'file[x]',
    exit: [4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: file\n  name: x\n  path: /srv/rel-out/dir/inner.txt\n  content: "pwned\\n"`),
  },
  {
    label: 'symlink at a managed path (points out)',
    id: 'file[x]',
    exit: [4],
    code: 'FILE_IS_SYMLINK',
    yaml: R(`- kind: file\n  name: x\n  path: /file-out\n  content: "pwned\\n"`),
  },
  {
    label: 'symlink at a managed path (points inside)',
    id: 'file[x]',
    exit: [4],
    code: 'FILE_IS_SYMLINK',
    yaml: R(`- kind: file\n  name: x\n  path: /link-in\n  ensure: directory`),
  },
  {
    label: 'symlink at a managed path, mode only',
    id: 'file[x]',
    exit: [4],
    code: 'FILE_IS_SYMLINK',
    yaml: R(`- kind: file\n  name: x\n  path: /file-out\n  mode: "0777"`),
  },
  {
    label: 'symlink at a managed path, ensure absent',
    id: 'file[x]',
    exit: [4],
    code: 'FILE_IS_SYMLINK',
    yaml: R(`- kind: file\n  name: x\n  path: /link-out\n  ensure: absent\n  force: true`),
  },
  {
    label: 'recursive delete without force',
    id: 'file[x]',
    exit: [4],
    code: 'FILE_IO',
    yaml: R(`- kind: file\n  name: x\n  path: /srv/data\n  ensure: absent`),
  },
  {
    label: 'docker.daemon configPath with ..',
    id: 'docker.daemon[d]',
    exit: [1, 4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: docker.daemon\n  name: d\n  configPath: /../outside/daemon.json\n  liveRestore: true`),
  },
  {
    label: 'docker.daemon configPath through a symlinked dir',
    id: 'docker.daemon[d]',
    exit: [4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: docker.daemon\n  name: d\n  configPath: /link-out/daemon.json\n  liveRestore: true`),
  },
  {
    label: 'ntp configPath with ..',
    id: 'ntp[t]',
    exit: [1, 4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: ntp\n  name: t\n  provider: timesyncd\n  servers: [{ host: ntp.example.org }]\n  configPath: /../outside/timesyncd.conf`),
  },
  {
    label: 'ntp configPath through a symlinked dir',
    id: 'ntp[t]',
    exit: [4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: ntp\n  name: t\n  provider: timesyncd\n  servers: [{ host: ntp.example.org }]\n  configPath: /link-out/timesyncd.conf`),
  },
  {
    label: 'logging.forward configPath through a symlinked dir',
    id: 'logging.forward[f]',
    exit: [4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: logging.forward\n  name: f\n  target: 127.0.0.1\n  configPath: /link-out/fwd.conf`),
  },
  {
    label: 'logging.rotate configPath with ..',
    id: 'logging.rotate[r]',
    exit: [1, 4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: logging.rotate\n  name: r\n  paths: [/var/log/app.log]\n  configPath: /../outside/rot`),
  },
  {
    label: 'dns with /etc a symlink pointing out',
    id: 'dns[d]',
    exit: [4],
    code: 'PATH_OUTSIDE_ROOT',
    setup: (w) => {
      rmSync(path.join(w.root, 'etc'), { recursive: true });
      symlinkSync(w.outside, path.join(w.root, 'etc'));
    },
    yaml: R(`- kind: dns\n  name: d\n  nameservers: [192.0.2.1]`),
  },
  {
    label: 'service pidfile through a symlinked dir',
    id: 'service[s]',
    exit: [4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: service\n  name: s\n  provider: process\n  start: [/bin/sleep, "30"]\n  pidfile: /link-out/s.pid`),
  },
  {
    label: 'service logFile with ..',
    id: 'service[s]',
    exit: [1, 4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: service\n  name: s\n  provider: process\n  start: [/bin/sleep, "30"]\n  logFile: /../outside/s.log`),
  },
  {
    label: 'service cwd through a link to /etc',
    id: 'service[s]',
    exit: [4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(`- kind: service\n  name: s\n  provider: process\n  start: [/bin/sleep, "30"]\n  cwd: /abs-etc`),
  },
  {
    label: 'bind mount source with ..',
    id: 'docker.container[PREFIX-c]',
    exit: [1, 4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(
      `- kind: docker.container\n  name: PREFIX-c\n  image: local/busybox:1\n  command: [sleep, "300"]\n  labels: { tsconverge-test: LABEL }\n  mounts: [{ type: bind, source: /../../../etc, target: /host-etc }]`,
    ),
  },
  {
    label: 'bind mount source through a symlinked dir',
    id: 'docker.container[PREFIX-c]',
    exit: [4],
    code: 'PATH_OUTSIDE_ROOT',
    yaml: R(
      `- kind: docker.container\n  name: PREFIX-c\n  image: local/busybox:1\n  command: [sleep, "300"]\n  labels: { tsconverge-test: LABEL }\n  mounts: [{ type: bind, source: /abs-etc, target: /host-etc }]`,
    ),
  },
];

describe('the CLI refuses paths out of the root for every path-carrying kind; nothing changes', () => {
  const label = `hc-${randomBytes(3).toString('hex')}`;
  beforeAll(() => requireDocker());
  afterAll(() => {
    const ids = docker('ps', '-aq', '--filter', `label=tsconverge-test=${label}`).split('\n').filter(Boolean);
    if (ids.length) docker('rm', '-f', ...ids);
  });

  it.each(CLI_CASES.map((c) => [c.label, c] as const))('%s', async (_l, c) => {
    const w = createWorld();
    try {
      c.setup?.(w);
      const prefix = `${label}-${randomBytes(2).toString('hex')}`;
      const id = c.id.replace('PREFIX', prefix);
      const file = path.join(w.manifests, 'm.yaml');
      writeFileSync(
        file,
        'resources:\n' +
          c.yaml
            .replace(/PREFIX/g, prefix)
            .replace(/LABEL/g, label)
            .split('\n')
            .map((l) => '  ' + l)
            .join('\n') +
          '\n',
      );
      const outsideBefore = tree(w.outside);
      const rootBefore = tree(w.root);
      // The state directory (run lock, applied state) is tsconverge's own: kept beside the root, so the root's snapshot sees only what the manifest did.
      const r = await runCli(['apply', file, '--root', w.root, '--state-dir', path.join(w.manifests, '..', 'state'), '--format', 'json']);
      expect(c.exit, `${r.stdout}\n${r.stderr}`).toContain(r.code);
      if (r.code === 1) {
        // Validate time: the error names file:line:col and the field.
        expect(r.json?.errors?.[0]?.location?.file).toBe(file);
        expect(r.json?.errors?.[0]?.location?.line).toBeGreaterThan(1);
      } else {
        const res = r.json.resources.find((x: { id: string }) => x.id === id);
        expect(res, r.stdout).toBeDefined();
        expect(res.status).toBe('failed');
        expect(res.error.code).toBe(c.code);
        expect(r.stderr).toContain(id);
      }
      expect(tree(w.outside)).toBe(outsideBefore);
      expect(tree(w.root)).toBe(rootBefore);
      expect(docker('ps', '-aq', '--filter', `name=${prefix}`)).toBe('');
    } finally {
      rmSync(w.base, { recursive: true, force: true });
    }
  });
});

describe('declared treatment and safe defaults', () => {
  let w: World;
  beforeEach(() => {
    w = createWorld();
  });
  afterAll(() => rmSync(w.base, { recursive: true, force: true }));
  const apply = async (yaml: string, env: Record<string, string> = {}): Promise<Awaited<ReturnType<typeof runCli>>> => {
    const file = path.join(w.manifests, 'm.yaml');
    writeFileSync(file, yaml);
    return runCli(['apply', file, '--root', w.root, '--format', 'json'], env);
  };

  it('symlink: replace replaces the link itself; its target is never written', async () => {
    const before = tree(w.outside);
    const r = await apply('resources:\n  - kind: file\n    name: x\n    path: /file-out\n    content: "mine\\n"\n    symlink: replace\n');
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(lstatSync(path.join(w.root, 'file-out')).isFile()).toBe(true);
    expect(readFileSync(path.join(w.root, 'file-out'), 'utf8')).toBe('mine\n');
    expect(tree(w.outside)).toBe(before);
  });

  it('force: true deletes a non-empty directory, and nothing beside it', async () => {
    const outside = tree(w.outside);
    const r = await apply('resources:\n  - kind: file\n    name: x\n    path: /srv/data\n    ensure: absent\n    force: true\n');
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(existsSync(path.join(w.root, 'srv/data'))).toBe(false);
    expect(existsSync(path.join(w.root, 'etc/motd'))).toBe(true);
    expect(tree(w.outside)).toBe(outside);
  });

  it('temp files a kill -9 left are removed by the next apply, and never under --noop', async () => {
    const stale = path.join(w.root, 'etc', `${TEMP_PREFIX}0123456789abcdef`);
    writeFileSync(stale, 'half a file');
    const yaml = 'resources:\n  - kind: file\n    name: m\n    path: /etc/motd\n    content: "new\\n"\n';
    const file = path.join(w.manifests, 'm.yaml');
    writeFileSync(file, yaml);
    const noop = await runCli(['plan', file, '--root', w.root]);
    expect(noop.code, noop.stderr).toBe(2);
    expect(existsSync(stale)).toBe(true);
    const r = await runCli(['apply', file, '--root', w.root]);
    expect(r.code, r.stderr).toBe(2);
    expect(existsSync(stale)).toBe(false);
    expect(readdirSync(path.join(w.root, 'etc')).filter((n) => n.startsWith(TEMP_PREFIX))).toEqual([]);
  });

  it('a sensitive file without a declared mode is created 0600; a plain one 0644', async () => {
    const r = await apply(
      'resources:\n  - kind: file\n    name: s\n    path: /etc/app/token\n    content: "t0ken-value\\n"\n    sensitive: true\n  - kind: file\n    name: p\n    path: /etc/app/plain\n    content: "plain\\n"\n',
    );
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(statSync(path.join(w.root, 'etc/app/token')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(w.root, 'etc/app/plain')).mode & 0o777).toBe(0o644);
    // An existing world-readable file that is to receive sensitive content loses its group/other bits.
    const again = await apply('resources:\n  - kind: file\n    name: m\n    path: /etc/motd\n    content: "s3cret-motd\\n"\n    sensitive: true\n');
    expect(again.code, again.stdout + again.stderr).toBe(2);
    expect(statSync(path.join(w.root, 'etc/motd')).mode & 0o777).toBe(0o600);
  });

  it('a bind mount under the root works (the confinement resolves it, it does not forbid it)', async () => {
    requireDocker();
    const name = `hc-${randomBytes(3).toString('hex')}`;
    try {
      const r = await apply(
        `resources:\n  - kind: docker.container\n    name: ${name}\n    image: local/busybox:1\n    command: [sleep, "300"]\n    labels: { tsconverge-test: ${name} }\n    mounts: [{ type: bind, source: /srv/data, target: /data, readOnly: true }]\n`,
      );
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(docker('exec', name, 'cat', '/data/keep.txt')).toBe('keep');
      expect(JSON.parse(docker('inspect', name, '--format', '{{json .Mounts}}'))[0].Source).toBe(path.join(w.root, 'srv/data'));
    } finally {
      try {
        docker('rm', '-f', name);
      } catch {
        /* not created */
      }
    }
  });

  it("a started daemon gets a clean environment: no TSCONVERGE_SECRET_*, nothing of tsconverge's own", async () => {
    const secret = `svc-secret-${randomBytes(6).toString('hex')}`;
    const r = await apply(
      `resources:\n  - kind: service\n    name: envcheck\n    provider: process\n    start: [/bin/sleep, "300"]\n    env: { APP_MODE: test, TSCONVERGE_SECRET_SNEAKY: "declared" }\n`,
      { TSCONVERGE_SECRET_DB: secret, HC_PARENT_CANARY: 'parent-only' },
    );
    expect(r.code, r.stdout + r.stderr).toBe(2);
    const pid = Number(readFileSync(path.join(w.root, 'run/tsconverge/envcheck.pid'), 'utf8'));
    try {
      expect(alive(pid)).toBe(true);
      const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').filter(Boolean);
      expect(environ.sort()).toEqual(['APP_MODE=test', 'LANG=C', 'LC_ALL=C', expect.stringMatching(/^PATH=/)].sort());
      expect(environ.join('\n')).not.toContain(secret);
      expect(await readFile(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(secret);
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });
});

describe('a relative --root and a root that does not exist yet stay confined', () => {
  it('writes under the root it creates, refuses .. all the same', async () => {
    const w = createWorld();
    try {
      const fresh = path.join(w.base, 'fresh-root');
      const fs = createRootFs(fresh);
      await fs.writeAtomic('/etc/x', 'x\n');
      expect(readFileSync(path.join(fresh, 'etc/x'), 'utf8')).toBe('x\n');
      await expect(fs.writeAtomic('/../outside/x', 'x')).rejects.toMatchObject({ code: 'PATH_OUTSIDE_ROOT' });
      expect(existsSync(path.join(w.outside, 'x'))).toBe(false);
    } finally {
      rmSync(w.base, { recursive: true, force: true });
    }
  });
});
