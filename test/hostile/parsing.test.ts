/**
 * Hostile input, parsing: alias bombs, deep nesting, oversized documents, too many
 * resources, YAML traps, hostile templates and fleet files. Each case runs the real CLI
 * (`validate`, and `apply` against a temp root) and must exit 1 with file:line:column
 * and the field or limit, no stack trace, and nothing changed (hostile.ts).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createSandbox, requireDocker, type Sandbox } from '../support/harness.js';
import { runHostileCase, type HostileCase } from './hostile.js';

let sb: Sandbox;
beforeAll(() => {
  requireDocker();
  sb = createSandbox('hp-parse');
});
afterAll(() => sb?.cleanup());

const bomb = (levels: number, width = 9): string => {
  let s = 'lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n';
  for (let i = 1; i <= levels; i++)
    s += `lol${i}: &l${i} [${Array(width)
      .fill(`*l${i - 1}`)
      .join(', ')}]\n`;
  return s;
};
const deepFlow = (n: number, open = '[', close = ']'): string => `${open.repeat(n)}${close.repeat(n)}`;
const deepBlock = (n: number): string => Array.from({ length: n }, (_, i) => `${' '.repeat(i + 4)}- \n`).join('');
const file = (name: string, extra = ''): string => `  - kind: file\n    name: ${name}\n    content: "x\\n"\n${extra}`;
const container = (name: string, extra = ''): string => `  - kind: docker.container\n    name: ${name}\n    image: local/busybox:1\n${extra}`;

const CASES: HostileCase[] = [
  // Alias expansion
  {
    name: 'billion laughs at the top of a manifest',
    files: { 'manifest.yaml': `${bomb(9)}resources: []\n` },
    expect: { file: 'manifest.yaml', at: '*l3', message: /aliases expand to more than 10000 nodes/, code: 'LIMIT_EXCEEDED' },
  },
  {
    name: 'billion laughs inside a resource',
    files: {
      'manifest.yaml': `resources:\n${file('/a')}    parameters:\n      x: &x [a, a, a, a, a, a, a, a, a, a]\n      y: &y [*x, *x, *x, *x, *x, *x, *x, *x, *x, *x]\n      z: &z [*y, *y, *y, *y, *y, *y, *y, *y, *y, *y]\n      w: [*z, *z, *z, *z, *z, *z, *z, *z, *z, *z]\n`,
    },
    expect: { file: 'manifest.yaml', line: 9, column: 39, message: /aliases expand to more than 10000 nodes/, code: 'LIMIT_EXCEEDED' },
  },
  {
    name: 'an alias that contains itself',
    files: { 'manifest.yaml': 'resources: &r\n  - kind: file\n    name: /a\n    parameters: { loop: *r }\n' },
    expect: { file: 'manifest.yaml', at: 'loop: *r', message: /nesting deeper than 64 levels \(through aliases\)/, code: 'LIMIT_EXCEEDED' },
  },
  {
    name: 'a lower alias budget from the environment',
    env: { TSCONVERGE_MAX_ALIAS_NODES: '3' },
    files: { 'manifest.yaml': `base: &b { a: 1, b: 2, c: 3 }\nresources:\n${file('/a')}    parameters: { one: *b }\n` },
    expect: { file: 'manifest.yaml', at: 'one: *b', message: /aliases expand to more than 3 nodes/, code: 'LIMIT_EXCEEDED' },
  },
  // Nesting depth
  {
    name: '10,000-deep flow lists',
    files: { 'manifest.yaml': `resources: ${deepFlow(10_000)}\n` },
    expect: { file: 'manifest.yaml', line: 1, column: 1, message: /nesting deeper than 64 levels in field \/resources/, code: 'LIMIT_EXCEEDED' },
  },
  {
    name: '10,000-deep flow maps',
    files: { 'manifest.yaml': `resources: ${'{a: '.repeat(10_000)}1${'}'.repeat(10_000)}\n` },
    expect: { file: 'manifest.yaml', line: 1, column: 1, message: /nesting deeper than 64 levels in field \/resources/, code: 'LIMIT_EXCEEDED' },
  },
  {
    name: '10,000-deep flow inside a resource',
    files: { 'manifest.yaml': `resources:\n${file('/a')}    parameters: { deep: ${deepFlow(10_000)} }\n` },
    expect: { file: 'manifest.yaml', line: 5, column: 5, message: /nesting deeper than 64 levels in field \/resources\/0\/parameters/, code: 'LIMIT_EXCEEDED' },
  },
  {
    name: '2,000-deep block sequences',
    files: { 'manifest.yaml': `resources:\n${deepBlock(2000)}` },
    expect: { file: 'manifest.yaml', line: 64, column: 69, message: /nesting deeper than 64 levels/, code: 'LIMIT_EXCEEDED' },
  },
  {
    name: '70-deep block maps in parameters',
    files: {
      'manifest.yaml': `resources:\n${file('/a')}    parameters:\n${Array.from({ length: 70 }, (_, i) => `${' '.repeat(6 + 2 * i)}k${i}:\n`).join('')}`,
    },
    expect: { file: 'manifest.yaml', at: 'k61:', message: /nesting deeper than 64 levels/, code: 'LIMIT_EXCEEDED' },
  },
  {
    name: 'a lower depth limit from the environment',
    env: { TSCONVERGE_MAX_DEPTH: '4' },
    files: { 'manifest.yaml': `resources:\n${file('/a')}    parameters: { a: { b: [1] } }\n` },
    expect: { file: 'manifest.yaml', at: 'a: {', message: /nesting deeper than 4 levels in field \/resources\/0\/parameters\/a/, code: 'LIMIT_EXCEEDED' },
  },
  // Size and count
  {
    name: 'a document over the size limit',
    env: { TSCONVERGE_MAX_DOCUMENT_BYTES: '100' },
    files: { 'manifest.yaml': `resources:\n${file('/a')}${file('/b')}${file('/c')}${file('/d')}` },
    expect: { file: 'manifest.yaml', line: 1, column: 1, message: /larger than the limit \(limit 100\)/, code: 'LIMIT_EXCEEDED' },
  },
  {
    name: 'more resources than the limit',
    env: { TSCONVERGE_MAX_RESOURCES: '3' },
    files: { 'manifest.yaml': `resources:\n${file('/a')}${file('/b')}${file('/c')}${file('/d')}` },
    expect: {
      file: 'manifest.yaml',
      at: 'kind: file\n    name: /d',
      message: /4 resources in one file, more than the limit \(limit 3\)/,
      code: 'LIMIT_EXCEEDED',
    },
  },
  {
    name: 'more resources than the limit across files',
    env: { TSCONVERGE_MAX_RESOURCES: '3' },
    target: '.',
    files: { 'a.yaml': `resources:\n${file('/a')}${file('/b')}`, 'b.yaml': `resources:\n${file('/c')}${file('/d')}` },
    expect: { file: 'b.yaml', at: 'kind: file\n    name: /d', message: /catalogue has 4 resources, more than the limit/, code: 'LIMIT_EXCEEDED' },
  },
  {
    name: 'a FIFO named like a manifest (must not hang)',
    target: '.',
    files: { 'a.yaml': `resources:\n${file('/a')}` },
    setup: (c) => execFileSync('mkfifo', [path.join(c.dir, 'b.yaml')]),
    expect: { file: 'b.yaml', message: /is not a regular file/, code: 'MANIFEST_NOT_FOUND' },
  },
  // YAML traps
  {
    name: 'a duplicate key',
    files: { 'manifest.yaml': 'resources:\n  - kind: file\n    name: /a\n    name: /b\n' },
    expect: { file: 'manifest.yaml', at: 'name: /b', message: /duplicate key/, code: 'MANIFEST_PARSE' },
  },
  {
    name: 'a tab in the indentation',
    files: { 'manifest.yaml': 'resources:\n  - kind: file\n\tname: /a\n' },
    expect: { file: 'manifest.yaml', line: 3, message: /[Tt]ab/, code: 'MANIFEST_PARSE' },
  },
  {
    name: 'an unclosed flow list',
    files: { 'manifest.yaml': 'resources: [ { kind: file, name: /a }\n' },
    expect: { file: 'manifest.yaml', line: 2, column: 1, message: /[Ff]low sequence .* end with a \]/, code: 'MANIFEST_PARSE' },
  },
  {
    name: 'two documents in one file',
    files: { 'manifest.yaml': `resources:\n${file('/a')}---\nresources:\n${file('/b')}` },
    expect: { file: 'manifest.yaml', at: '---', message: /more than one YAML document/, code: 'MANIFEST_PARSE' },
  },
  {
    name: 'an unknown tag',
    files: { 'manifest.yaml': `resources:\n${file('/a')}    parameters: { x: !shell "rm -rf /" }\n` },
    expect: { file: 'manifest.yaml', at: 'x: !shell', message: /unknown tag !shell/ },
  },
  {
    name: 'a complex (non-string) map key',
    files: { 'manifest.yaml': `resources:\n${file('/a')}    parameters:\n      ? [a, b]\n      : c\n` },
    expect: { file: 'manifest.yaml', at: 'parameters:', message: /map keys must be strings/ },
  },
  {
    name: 'a __proto__ key in a resource',
    files: { 'manifest.yaml': `resources:\n${file('/a', '    __proto__: { polluted: true }\n')}` },
    expect: { file: 'manifest.yaml', at: '__proto__', message: /unknown field "__proto__"/, code: 'MANIFEST_INVALID' },
  },
  {
    name: 'a YAML 1.1 merge key',
    files: { 'manifest.yaml': 'resources:\n  - &d { kind: file, name: /a, content: "x" }\n  - <<: *d\n    name: /b\n' },
    expect: { file: 'manifest.yaml', at: '<<', message: /missing field "kind"/, code: 'UNKNOWN_KIND' },
  },
  {
    name: 'binary garbage',
    files: { 'manifest.yaml': 'resources:\n  - kind: file\n    name: /a\n  \u0000\u0001\u0002: [\n' },
    expect: { file: 'manifest.yaml', line: 4, message: /./, code: 'MANIFEST_PARSE' },
  },
  {
    name: 'resources that are not a list',
    files: { 'manifest.yaml': 'resources: { kind: file, name: /a }\n' },
    expect: { file: 'manifest.yaml', at: 'resources', message: /must be array/, code: 'MANIFEST_INVALID' },
  },
  // Templates
  {
    name: 'an undefined template variable',
    files: { 'manifest.yaml': `resources:\n  - kind: file\n    name: /a\n    template: t.hbs\n`, 't.hbs': 'line one\nport={{params.port}}\n' },
    expect: { file: 't.hbs', line: 2, column: 8, message: /"port" not defined/, code: 'TEMPLATE_ERROR' },
  },
  {
    name: 'a missing partial',
    files: { 'manifest.yaml': `resources:\n  - kind: file\n    name: /a\n    template: t.hbs\n`, 't.hbs': 'a\nb\n  {{> header}}\n' },
    expect: { file: 't.hbs', line: 3, column: 3, message: /the partial header could not be found/, code: 'TEMPLATE_ERROR' },
  },
  {
    name: 'a template reaching constructor',
    files: {
      'manifest.yaml': `resources:\n  - kind: file\n    name: /a\n    template: t.hbs\n    parameters: { x: 1 }\n`,
      't.hbs': '{{params.x}}\n{{params.constructor.constructor}}\n',
    },
    // At the `{{` that starts the statement (a path may continue on the next lines).
    expect: { file: 't.hbs', line: 2, column: 1, message: /prototype access is refused/, code: 'TEMPLATE_ERROR' },
  },
  {
    name: 'a template reaching __proto__ with lookup',
    files: { 'manifest.yaml': `resources:\n  - kind: file\n    name: /a\n    template: t.hbs\n`, 't.hbs': 'x {{lookup params "__proto__"}}\n' },
    expect: { file: 't.hbs', line: 1, message: /__proto__.*refused/, code: 'TEMPLATE_ERROR' },
  },
  {
    name: 'a template syntax error',
    files: { 'manifest.yaml': `resources:\n  - kind: file\n    name: /a\n    template: t.hbs\n`, 't.hbs': 'ok\n{{#if params.x}}\nno end\n' },
    expect: { file: 't.hbs', line: 4, message: /syntax error/, code: 'TEMPLATE_ERROR' },
  },
  {
    name: 'a template named by absolute path',
    files: { 'manifest.yaml': 'resources:\n  - kind: file\n    name: /a\n    template: /etc/shadow\n' },
    expect: {
      file: 'manifest.yaml',
      at: 'template:',
      message: /"\/etc\/shadow" is not valid here; accepted: a path relative to the manifest file/,
      code: 'MANIFEST_INVALID',
    },
  },
  {
    name: 'a template escaping the tree with ..',
    files: { 'manifest.yaml': 'resources:\n  - kind: file\n    name: /a\n    template: ../sentinel.txt\n' },
    expect: { file: 'manifest.yaml', at: 'template:', message: /is outside the manifest tree/, code: 'TEMPLATE_ERROR' },
  },
  {
    name: 'a template through a symlink out of the tree',
    files: { 'manifest.yaml': 'resources:\n  - kind: file\n    name: /a\n    template: templates/leak.hbs\n' },
    symlinks: { 'templates/leak.hbs': (c) => c.sentinel },
    expect: { file: 'manifest.yaml', at: 'template:', message: /leads out of the manifest tree through a symbolic link/, code: 'TEMPLATE_ERROR' },
  },
  {
    name: 'a template through a symlinked directory',
    files: { 'manifest.yaml': 'resources:\n  - kind: file\n    name: /a\n    template: templates/etc/passwd\n' },
    symlinks: { templates: '/' },
    expect: { file: 'manifest.yaml', at: 'template:', message: /leads out of the manifest tree through a symbolic link/, code: 'TEMPLATE_ERROR' },
  },
  {
    name: 'content and template together',
    files: { 'manifest.yaml': 'resources:\n  - kind: file\n    name: /a\n    content: "x"\n    template: t.hbs\n', 't.hbs': 'y\n' },
    expect: { file: 'manifest.yaml', at: 'template:', message: /content and template are both set/, code: 'MANIFEST_INVALID' },
  },
  // Fleet files
  {
    name: 'billion laughs in fleet data',
    fleet: true,
    target: '.',
    applyArgs: ['--node', 'web-02', '--environment', 'production'],
    files: {
      'data/common.yaml': `ntp:\n  pools: []\n  servers: [ntp1.example.net]\nbomb: &b0 [a, a, a, a, a, a, a, a, a, a]\nb1: &b1 [*b0, *b0, *b0, *b0, *b0, *b0, *b0, *b0, *b0, *b0]\nb2: &b2 [*b1, *b1, *b1, *b1, *b1, *b1, *b1, *b1, *b1, *b1]\nb3: &b3 [*b2, *b2, *b2, *b2, *b2, *b2, *b2, *b2, *b2, *b2]\nb4: [*b3, *b3, *b3, *b3, *b3, *b3, *b3, *b3, *b3, *b3]\n`,
    },
    expect: { file: 'data/common.yaml', line: 7, column: 45, message: /aliases expand to more than 10000 nodes/, code: 'LIMIT_EXCEEDED' },
  },
  {
    name: '10,000-deep nesting in site.yaml',
    fleet: true,
    target: '.',
    applyArgs: ['--node', 'web-02', '--environment', 'production'],
    files: { 'environments/production/manifests/site.yaml': `roles: ${deepFlow(10_000, '{a: ', '}')}\nnodes: []\n` },
    expect: { file: 'environments/production/manifests/site.yaml', line: 1, message: /nesting deeper than 64 levels/, code: 'LIMIT_EXCEEDED' },
  },
  {
    name: 'a catastrophic regex against a long node name',
    fleet: true,
    target: '.',
    applyArgs: ['--node', `${'a'.repeat(5000)}-`, '--environment', 'staging'],
    files: { 'environments/staging/manifests/site.yaml': 'roles:\n  web: { modules: [ntp] }\nnodes:\n  - regex: "^(a+)+$"\n    role: web\n' },
    // validate compiles the nodes named in data/nodes (no match for them either); apply classifies the long name.
    expect: { file: 'environments/staging/manifests/site.yaml', at: 'nodes:', message: /matches no rule that gives it a role/, code: 'NODE_UNCLASSIFIED' },
  },
  {
    name: 'a backreference regex (not linear time)',
    fleet: true,
    target: '.',
    applyArgs: ['--node', 'web-02', '--environment', 'production'],
    files: { 'environments/production/manifests/site.yaml': 'roles:\n  web: { modules: [ntp] }\nnodes:\n  - regex: "^(a+)\\\\1$"\n    role: web\n' },
    expect: { file: 'environments/production/manifests/site.yaml', at: 'regex:', message: /invalid regular expression/, code: 'MANIFEST_INVALID' },
  },
  {
    name: 'an unknown tag in a module',
    fleet: true,
    target: '.',
    applyArgs: ['--node', 'db-01', '--environment', 'production'],
    files: { 'modules/database/module.yaml': 'name: database\nparameters: !include /etc/passwd\nresources: []\n' },
    expect: { file: 'modules/database/module.yaml', at: 'parameters: !include', message: /unknown tag !include/ },
  },
  // Containers are never created when a later resource is bad.
  {
    name: 'a valid container beside an alias bomb',
    files: { 'manifest.yaml': (c) => `${bomb(9)}resources:\n${container(`${c.prefix}-web`, `    labels: { tsconverge-test: "${c.id}" }\n`)}` },
    expect: { file: 'manifest.yaml', at: '*l3', message: /aliases expand/, code: 'LIMIT_EXCEEDED' },
  },
];

describe('hostile input: parsing', () => {
  it.concurrent.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    await runHostileCase(sb, c);
  });
});

export const PARSING_CASES = CASES.length;
