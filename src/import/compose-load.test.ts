import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManifestErrors } from '../core/errors.js';
import { interpolate, loadComposeFiles, parseEnvFile, type ImportWarning } from './compose-load.js';
import { expandPort } from './compose.js';
import { mergeCompose } from './compose-merge.js';

const ENV = { A: 'a', EMPTY: '' };

describe('interpolate', () => {
  it.each([
    ['$A', 'a'],
    ['${A}', 'a'],
    ['x${A}y', 'xay'],
    ['$$A', '$A'],
    ['$${A}', '${A}'],
    ['${B:-d}', 'd'],
    ['${EMPTY:-d}', 'd'],
    ['${EMPTY-d}', ''],
    ['${B-d}', 'd'],
    ['${A:-d}', 'a'],
    ['${B}', ''],
    ['${A:?no}', 'a'],
    ['${EMPTY?no}', ''],
  ])('%s -> %s', (input, out) => {
    expect(interpolate(input, ENV, () => undefined)).toBe(out);
  });
  it.each([
    ['${B:?need B}', 'required variable B is missing a value: need B'],
    ['${EMPTY:?x}', 'required variable EMPTY'],
    ['${B?x}', 'required variable B'],
    ['${1}', 'invalid interpolation'],
  ])('%s fails', (input, msg) => {
    expect(() => interpolate(input, ENV, () => undefined)).toThrow(msg);
  });
  it('reports an unset variable', () => {
    const missing: string[] = [];
    interpolate('${NOPE} $ALSO', ENV, (n) => missing.push(n));
    expect(missing).toEqual(['NOPE', 'ALSO']);
  });
});

describe('parseEnvFile', () => {
  it('reads KEY=value lines, comments, quotes and export', () => {
    expect(parseEnvFile('# c\nA=1\n\nexport B="two words"\nC=\'x\'\nD=a=b\nbad\n')).toEqual({ A: '1', B: 'two words', C: 'x', D: 'a=b' });
  });
});

describe('expandPort', () => {
  it.each<[unknown, string[]]>([
    ['80', ['80']],
    [80, ['80']],
    ['8080:80', ['8080:80']],
    ['127.0.0.1:8080:80', ['127.0.0.1:8080:80']],
    ['127.0.0.1::80', ['127.0.0.1::80']],
    ['53:53/udp', ['53:53/udp']],
    ['8000-8001:80-81', ['8000:80', '8001:81']],
    [{ target: 80, published: 8080, host_ip: '127.0.0.1' }, ['127.0.0.1:8080:80']],
    [{ target: 53, protocol: 'udp' }, ['53/udp']],
  ])('%j -> %j', (p, out) => {
    expect(expandPort(p, () => undefined)).toEqual(out);
  });
  it('warns about what it cannot express', () => {
    const w: string[] = [];
    expect(expandPort('8000-8009:80', (m) => w.push(m))).toEqual([]);
    expect(w[0]).toMatch(/host range/);
  });
});

describe('mergeCompose', () => {
  it('merges services the way Compose does', () => {
    const merged = mergeCompose([
      {
        services: {
          web: {
            image: 'a',
            command: ['x'],
            environment: ['A=1', 'B=2'],
            ports: ['80'],
            volumes: ['d:/data', './x:/x'],
            networks: ['front'],
            depends_on: ['db'],
          },
        },
        volumes: { d: {} },
      },
      {
        services: {
          web: {
            image: 'b',
            command: 'y',
            environment: { B: '3', C: '4' },
            ports: ['81', '80'],
            volumes: ['e:/data'],
            networks: { back: { aliases: ['w'] } },
            depends_on: { cache: { condition: 'service_healthy' } },
          },
          db: { image: 'p' },
        },
        volumes: { e: {} },
      },
    ]);
    expect(merged).toEqual({
      services: {
        web: {
          image: 'b',
          command: 'y',
          environment: { A: '1', B: '3', C: '4' },
          ports: ['80', '81'],
          volumes: ['e:/data', './x:/x'],
          networks: { front: null, back: { aliases: ['w'] } },
          depends_on: { db: { condition: 'service_started' }, cache: { condition: 'service_healthy' } },
        },
        db: { image: 'p' },
      },
      volumes: { d: {}, e: {} },
    });
  });
});

describe('loadComposeFiles', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hm-compose-'));
  const file = (name: string, text: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('names file, line and column of a schema error', async () => {
    const f = file('bad.yml', 'services:\n  web:\n    image: x\n    restart: 3\n    nonsense: 1\n');
    const err = await loadComposeFiles([f], {}, () => undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManifestErrors);
    const lines = (err as ManifestErrors).errors.map((e) => e.format());
    expect(
      lines.some((l) => l.startsWith(`${f}:5:5 (at /services/web): does not match the compose-spec schema: must NOT have additional properties (nonsense)`)),
    ).toBe(true);
    expect(lines.some((l) => l.startsWith(`${f}:4:5 (at /services/web/restart)`))).toBe(true);
  });

  it('names file and line of a YAML error and of a required variable', async () => {
    const bad = file('yaml.yml', 'services:\n  web: [\n');
    const e1 = await loadComposeFiles([bad], {}, () => undefined).catch((e: unknown) => e as ManifestErrors);
    expect(e1.errors[0]!.format()).toMatch(new RegExp(`^${bad}:\\d+:\\d+: invalid YAML`));
    const req = file('req.yml', 'services:\n  web:\n    image: ${IMG:?set IMG}\n');
    const e2 = await loadComposeFiles([req], {}, () => undefined).catch((e: unknown) => e as ManifestErrors);
    expect(e2.errors[0]!.format()).toContain(`${req}:3:5 (at /services/web/image): required variable IMG is missing a value: set IMG`);
  });

  it('warns about unset variables with their place, like Compose', async () => {
    const f = file('unset.yml', 'services:\n  web:\n    image: busybox\n    environment:\n      A: ${UNSET_X}\n');
    const warnings: ImportWarning[] = [];
    const [cf] = await loadComposeFiles([f], {}, (w) => warnings.push(w));
    expect((cf!.data.services as any).web.environment.A).toBe('');
    expect(warnings).toEqual([
      { file: f, line: 5, column: 7, key: 'services.web.environment.A', message: 'the UNSET_X variable is not set; using an empty string (as Compose does)' },
    ]);
  });
});
