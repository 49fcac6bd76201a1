import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadCatalogue } from './compile.js';
import { ManifestErrors } from '../core/errors.js';
import { createFacts } from '../facts/facts.js';
import { createGraph } from '../engine/graph.js';
import { createProviderRegistry } from '../providers/container.js';

async function errorsFor(yaml: string): Promise<{ code: string; line?: number; column?: number; pointer?: string; message: string }[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsc-load-'));
  const file = path.join(dir, 'm.yaml');
  writeFileSync(file, yaml);
  try {
    const cat = await loadCatalogue(file, { facts: await createFacts() });
    createGraph(cat, createProviderRegistry());
    return [];
  } catch (err) {
    const list = err instanceof ManifestErrors ? err.errors : [err as never];
    return list.map((e: any) => ({
      code: e.code,
      line: e.location?.line,
      column: e.location?.column,
      pointer: e.location?.pointer,
      message: e.message,
      file: e.location?.file,
    }));
  }
}

describe('manifest errors name file, line, column and field', () => {
  it.each([
    ['malformed YAML', 'resources:\n  - kind: file\n    name: [unclosed\n', 'MANIFEST_PARSE', 4, undefined],
    ['duplicate key', 'resources:\n  - kind: file\n    name: a\n    name: b\n', 'MANIFEST_PARSE', 4, undefined],
    ['unknown kind', 'resources:\n  - kind: docker.contaner\n    name: a\n', 'UNKNOWN_KIND', 2, '/resources/0/kind'],
    ['unknown field', 'resources:\n  - kind: docker.container\n    name: a\n    image: x\n    imagee: y\n', 'MANIFEST_INVALID', 5, '/resources/0/imagee'],
    ['wrong enum', 'resources:\n  - kind: docker.container\n    name: a\n    image: x\n    ensure: up\n', 'MANIFEST_INVALID', 5, '/resources/0/ensure'],
    [
      'wrong type deep',
      'resources:\n  - kind: docker.container\n    name: a\n    image: x\n    mounts:\n      - type: volume\n        target: data\n',
      'MANIFEST_INVALID',
      7,
      '/resources/0/mounts/0/target',
    ],
    ['missing required', 'resources:\n  - kind: docker.container\n    name: a\n', 'MANIFEST_INVALID', 2, '/resources/0'],
    [
      'unknown reference',
      'resources:\n  - kind: file\n    name: /a\n    content: x\n    require: docker.network[nope]\n',
      'UNKNOWN_REFERENCE',
      5,
      '/resources/0/require',
    ],
    ['duplicate resource', 'resources:\n  - kind: file\n    name: /a\n  - kind: file\n    name: /a\n', 'DUPLICATE_RESOURCE', 5, '/resources/1/name'],
    [
      'cycle',
      'resources:\n  - kind: file\n    name: /a\n    require: file[/b]\n  - kind: file\n    name: /b\n    require: file[/a]\n',
      'DEPENDENCY_CYCLE',
      2,
      undefined,
    ],
    ['not a manifest', 'kind: file\n', 'MANIFEST_INVALID', 1, ''],
    [
      'two fields that exclude each other',
      'resources:\n  - kind: docker.container\n    name: a\n    image: x\n    networkMode: host\n    networks: [n]\n',
      'MANIFEST_INVALID',
      5,
      '/resources/0/networkMode',
    ],
  ])('%s', async (_name, yaml, code, line, pointer) => {
    const errs = await errorsFor(yaml);
    expect(errs.length).toBeGreaterThan(0);
    expect(errs[0]).toMatchObject({ code, line });
    expect(errs[0]!.column).toBeGreaterThan(0);
    if (pointer !== undefined) expect(errs[0]!.pointer).toBe(pointer);
  });

  it('says what is accepted', async () => {
    const [e] = await errorsFor('resources:\n  - kind: docker.container\n    name: a\n    image: x\n    ensure: up\n');
    expect(e!.message).toContain('"running", "stopped", "absent"');
    const [k] = await errorsFor('resources:\n  - kind: dockr.image\n    name: a\n');
    expect(k!.message).toMatch(/Accepted kinds are: .*docker\.image/);
  });

  it('names both fields that exclude each other', async () => {
    const [e] = await errorsFor('resources:\n  - kind: docker.container\n    name: a\n    image: x\n    networkMode: host\n    networks: [n]\n');
    expect(e!.message).toContain('networkMode and networks are both set: give one');
  });

  it('collects every error in one pass', async () => {
    const errs = await errorsFor('resources:\n  - kind: nope\n    name: a\n  - kind: file\n    name: /b\n    mode: rwx\n');
    expect(errs.map((e) => e.code)).toEqual(['UNKNOWN_KIND', 'MANIFEST_INVALID']);
  });

  it('compiles deterministically', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tsc-load-'));
    writeFileSync(path.join(dir, 'm.yaml'), 'resources:\n  - kind: file\n    name: /a\n    content: x\n');
    const facts = await createFacts();
    const a = await loadCatalogue(dir, { facts });
    const b = await loadCatalogue(dir, { facts });
    expect(a.version).toBe(b.version);
    expect(Object.isFrozen(a.resources[0]!.attrs)).toBe(true);
  });
});

describe('spec/', () => {
  it('every kind schema compiles under strict ajv (validators are compiled lazily at run time)', async () => {
    const { createSchemaRegistry } = await import('../spec/schemas.js');
    const kinds = [...createSchemaRegistry().kinds.values()];
    expect(kinds.length).toBeGreaterThanOrEqual(12);
    for (const k of kinds) expect(typeof k.validate).toBe('function');
  });
});
