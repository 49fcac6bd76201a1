import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadCatalogue } from '../catalogue/compile.js';
import { createFacts } from '../facts/facts.js';
import { createProviderRegistry } from '../providers/container.js';
import { createGraph } from './graph.js';
import { subCatalogue, targetClosure, watchList } from './watch.js';
import { describeSeen } from './seen.js';

async function catalogue(yaml: string) {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsc-watch-'));
  writeFileSync(path.join(dir, 'm.yaml'), yaml);
  return loadCatalogue(dir, { facts: await createFacts() });
}

const yaml = `resources:
  - { kind: docker.network, name: back }
  - { kind: file, name: conf, path: /etc/app/app.conf, content: "x", notify: "docker.container[api]" }
  - { kind: docker.container, name: api, image: local/busybox:1, networks: [back] }
  - { kind: docker.container, name: other, image: local/busybox:1 }
  - { kind: file, name: motd, path: /etc/motd, content: "hi" }
`;

describe('watch list and targeted runs', () => {
  it('each kind says what is watched: engine objects by name, files by path', async () => {
    const c = await catalogue(yaml);
    const w = watchList(c, createProviderRegistry());
    expect(w.docker.container).toEqual({ api: ['docker.container[api]'], other: ['docker.container[other]'] });
    expect(w.docker.network).toEqual({ back: ['docker.network[back]'] });
    expect(w.paths).toEqual({ '/etc/app/app.conf': ['file[conf]'], '/etc/motd': ['file[motd]'] });
  });

  it('a targeted run covers the marked resources and what depends on them or is notified, nothing else', async () => {
    const c = await catalogue(yaml);
    const g = createGraph(c, createProviderRegistry());
    expect([...targetClosure(g, ['docker.network[back]'])].sort()).toEqual(['docker.container[api]', 'docker.network[back]']);
    expect([...targetClosure(g, ['file[conf]'])].sort()).toEqual(['docker.container[api]', 'file[conf]']);
    expect([...targetClosure(g, ['docker.container[other]', 'not[there]'])]).toEqual(['docker.container[other]']);
    const sub = subCatalogue(c, targetClosure(g, ['file[conf]']));
    expect(sub.resources.map((r) => r.id)).toEqual(['file[conf]', 'docker.container[api]']);
    // The graph of the part keeps the edges inside it and drops the rest.
    expect(createGraph(sub, createProviderRegistry()).order).toEqual(['file[conf]', 'docker.container[api]']);
  });

  it('says what was seen in one line', () => {
    const time = '2026-12-05T14:02:11.250Z';
    expect(
      describeSeen('docker.container[web]', {
        by: 'event',
        event: { source: 'docker', type: 'container', action: 'destroy', name: 'web', id: 'abc', time, attributes: {} },
        afterMs: 1400,
      }),
    ).toBe('docker.container[web] destroyed at 14:02:11; restored 1.4 s later');
    expect(
      describeSeen(
        'docker.container[web]',
        { by: 'event', event: { source: 'docker', type: 'container', action: 'die', name: 'web', id: 'abc', time, exitCode: 137, attributes: {} } },
        true,
      ),
    ).toBe('docker.container[web] died (exit 137) at 14:02:11; not repaired (noop)');
    expect(
      describeSeen('file[conf]', {
        by: 'event',
        event: { source: 'file', path: '/etc/app.conf', event: 'rename', time, exists: true, uid: 0, gid: 0, mode: '0600', size: 12 },
        afterMs: 300,
      }),
    ).toBe('file[conf] replaced (uid 0, gid 0, mode 0600, 12 bytes) at 14:02:11; restored 0.3 s later');
    expect(describeSeen('file[conf]', { by: 'sweep' })).toBe('file[conf] drifted, seen at sweep');
  });
});
