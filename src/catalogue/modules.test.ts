import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BUILTIN_MODULES, compileFleet } from './fleet.js';
import { createFleet, errorsOf, testFacts } from './fleet.testkit.js';

const MODULES = readdirSync(BUILTIN_MODULES).sort();
const secrets = { env: { TSCONVERGE_SECRET_SHOP_DB_PASSWORD: 'example-password', TSCONVERGE_SECRET_PW: 'password-123' } };

/** A one-role fleet that uses `module` with its examples/data.yaml as common data. */
function exampleFleet(module: string): string {
  return createFleet({
    'environments/example/manifests/site.yaml': `roles:\n  example: { modules: [${module}] }\nnodes: []\ndefault: { role: example }\n`,
    'data/common.yaml': readFileSync(path.join(BUILTIN_MODULES, module, 'examples', 'data.yaml'), 'utf8'),
  });
}

describe('shipped modules', () => {
  it('are the documented set', () => {
    expect(MODULES).toEqual(['dns', 'docker-logging', 'ntp', 'sysctl-baseline', 'webapp']);
  });

  it.each([
    ['ntp', 'ntp[time]', '/servers', ['ntp1.example.net', 'ntp2.example.net']],
    ['ntp', 'service[chrony]', '/ensure', 'running'],
    ['dns', 'dns[resolver]', '/nameservers', ['10.0.0.2', '10.0.0.3']],
    ['dns', 'dns[resolver]', '/options', ['timeout:2', 'attempts:2']],
    ['docker-logging', 'docker.daemon[engine]', '/logOpts', { 'max-size': '50m', 'max-file': '5' }],
    ['docker-logging', 'docker.daemon[engine]', '/logDriver', 'json-file'],
    ['sysctl-baseline', 'sysctl[net.core.somaxconn]', '/value', 8192],
    ['sysctl-baseline', 'sysctl[net.ipv4.ip_forward]', '/value', true],
    ['webapp', 'docker.container[shop-db]', '/networks', [{ name: 'shop', aliases: ['db'] }]],
    ['webapp', 'docker.container[shop-db]', '/mounts', [{ type: 'volume', source: 'shop-db-data', target: '/var/lib/db' }]],
    ['webapp', 'docker.container[shop-app]', '/environment/DB_HOST', 'db'],
    ['webapp', 'docker.container[shop-app]', '/environment/DB_PASSWORD', 'example-password'],
    ['webapp', 'docker.container[shop-app]', '/memory', '128m'],
    ['webapp', 'docker.container[shop-app]', '/logging', { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } }],
    ['webapp', 'docker.container[shop-app]', '/mounts/0/source', '/srv/webapp/app.conf'],
    ['webapp', 'file[shop-config]', '/path', '/srv/webapp/app.conf'],
  ])('modules/%s/examples compile: %s %s', async (module, id, pointer, want) => {
    const fc = await compileFleet(exampleFleet(module), { node: 'example-01', facts: testFacts('example-01'), secrets });
    const r = fc.catalogue.byId.get(id);
    expect(r, `${id} in ${fc.catalogue.resources.map((x) => x.id).join(', ')}`).toBeDefined();
    let v: unknown = r!.attrs;
    for (const s of pointer.slice(1).split('/')) v = (v as Record<string, unknown>)[s];
    expect(v).toEqual(want);
  });

  it('webapp: the secret is sensitive by key, the config is rendered from its template, the app requires the db', async () => {
    const fc = await compileFleet(exampleFleet('webapp'), { node: 'example-01', facts: testFacts('example-01'), secrets });
    const app = fc.catalogue.byId.get('docker.container[shop-app]')!;
    expect(app.sensitive).toEqual(['/environment/DB_PASSWORD']);
    expect(app.relations.require).toEqual(['docker.container[shop-db]']);
    expect(fc.catalogue.byId.get('docker.container[shop-db]')!.sensitive).toEqual(['/environment/DB_PASSWORD']);
    const conf = fc.catalogue.byId.get('file[shop-config]')!;
    expect(conf.attrs.content).toContain('host = db\n');
    expect(conf.attrs.content).toContain('rendered by tsconverge for example-01');
    expect(conf.sensitive).toEqual([]);
  });
});

const SITE = 'roles:\n  web: { modules: [webapp] }\nnodes:\n  - glob: "web-*"\n    role: web\n';
const DATA = 'webapp:\n  db_password: !secret pw\n';
const BROKEN = (resource: string) =>
  `description: A broken module.\nparameters:\n  port: { type: integer, default: 80, description: A port. }\nresources:\n${resource}`;

describe('bad input: a clear error naming file, line and field', () => {
  it.each([
    [
      'missing module',
      { 'environments/p/manifests/site.yaml': SITE.replace('[webapp]', '[webap]') },
      'web-01',
      'MODULE_NOT_FOUND',
      'site.yaml',
      2,
      'Available modules: dns',
    ],
    [
      'wrong parameter type',
      { 'data/common.yaml': DATA + '  port: eighty\n' },
      'web-01',
      'PARAMETER_INVALID',
      'common.yaml',
      3,
      'parameter port: must be integer',
    ],
    ['missing required parameter', { 'data/common.yaml': 'webapp: { name: shop }\n' }, 'web-01', 'PARAMETER_INVALID', 'site.yaml', 2, 'db_password'],
    [
      'unknown data key (parameter)',
      { 'data/common.yaml': DATA + '  prot: 80\n' },
      'web-01',
      'DATA_INVALID',
      'common.yaml',
      3,
      'unknown data key "webapp.prot"',
    ],
    [
      'unknown data key (module)',
      { 'environments/p/data/roles/web.yaml': 'webap:\n  port: 80\n' },
      'web-01',
      'DATA_INVALID',
      'web.yaml',
      1,
      'unknown data key "webap"',
    ],
    ['unknown tag', { 'data/common.yaml': 'webapp:\n  db_password: !secrt pw\n' }, 'web-01', 'DATA_INVALID', 'common.yaml', 2, 'unknown tag !secrt'],
    [
      'conflicting roles',
      { 'environments/p/manifests/site.yaml': SITE.replace('roles:\n', 'roles:\n  db: { modules: [webapp] }\n') + '  - regex: "^web-0"\n    role: db\n' },
      'web-01',
      'ROLE_CONFLICT',
      'site.yaml',
      8,
      'conflicting roles',
    ],
    ['unclassified node', {}, 'mail-01', 'NODE_UNCLASSIFIED', 'site.yaml', 3, 'matches no rule'],
    [
      'missing secret',
      { 'data/common.yaml': 'webapp:\n  db_password: !secret nope\n' },
      'web-01',
      'SECRET_MISSING',
      'common.yaml',
      2,
      'TSCONVERGE_SECRET_NOPE',
    ],
    [
      'template error in module.yaml',
      {
        'environments/p/manifests/site.yaml': SITE.replace('[webapp]', '[broken]'),
        'modules/broken/module.yaml': BROKEN('  - kind: file\n    name: /etc/x\n    content: "port {{params.prot}}"\n'),
        'data/common.yaml': '',
      },
      'web-01',
      'TEMPLATE_ERROR',
      'module.yaml',
      7,
      '"prot" not defined',
    ],
    [
      'template error in templates/',
      {
        'environments/p/manifests/site.yaml': SITE.replace('[webapp]', '[broken]'),
        'modules/broken/module.yaml': BROKEN('  - kind: file\n    name: /etc/x\n    template: templates/x.hbs\n'),
        'modules/broken/templates/x.hbs': 'port {{params.port}} {{facts.nope}}\n',
        'data/common.yaml': '',
      },
      'web-01',
      'TEMPLATE_ERROR',
      'x.hbs',
      1,
      '"port" not defined (template of file[/etc/x], named at',
    ],
    ,
    [
      'template outside the module',
      {
        'environments/p/manifests/site.yaml': SITE.replace('[webapp]', '[broken]'),
        'modules/broken/module.yaml': BROKEN('  - kind: file\n    name: /etc/x\n    template: ../../data/common.yaml\n'),
        'data/common.yaml': '',
      },
      'web-01',
      'MODULE_INVALID',
      'module.yaml',
      7,
      'outside the module',
    ],
    [
      'rendered resource invalid',
      {
        'environments/p/manifests/site.yaml': SITE.replace('[webapp]', '[broken]'),
        'modules/broken/module.yaml': BROKEN('  - kind: docker.container\n    name: x\n    image: "{{params.port}}"\n'),
        'data/common.yaml': '',
      },
      'web-01',
      'MANIFEST_INVALID',
      'module.yaml',
      7,
      'image: must be string',
    ],
    [
      'undocumented parameter',
      {
        'environments/p/manifests/site.yaml': SITE.replace('[webapp]', '[broken]'),
        'modules/broken/module.yaml': 'description: x\nparameters:\n  port: { type: integer }\nresources: []\n',
        'data/common.yaml': '',
      },
      'web-01',
      'MODULE_INVALID',
      'module.yaml',
      3,
      'description',
    ],
  ])('%s', async (_n, files, node, code, file, line, message) => {
    const root = createFleet({ 'environments/p/manifests/site.yaml': SITE, 'data/common.yaml': DATA, ...files });
    const errs = await errorsOf(compileFleet(root, { node, facts: testFacts(node), secrets }));
    expect(errs.length, JSON.stringify(errs)).toBeGreaterThan(0);
    expect(errs[0]).toMatchObject({ code, file, line });
    expect(errs[0]!.message).toContain(message);
  });

  it('never runs handlebars on data or facts values', async () => {
    const root = createFleet({ 'environments/p/manifests/site.yaml': SITE, 'data/common.yaml': DATA + '  labels: { note: "{{facts.hostname}}" }\n' });
    const fc = await compileFleet(root, { node: 'web-01', facts: testFacts('web-01'), secrets });
    expect(fc.catalogue.byId.get('docker.container[webapp-app]')!.attrs.labels).toEqual({ note: '{{facts.hostname}}' });
  });
});
