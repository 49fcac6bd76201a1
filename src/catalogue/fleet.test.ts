import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileFleet, serializeCatalogue, validateFleet } from './fleet.js';
import { explainValue, formatExplanation } from './explain.js';
import { createFleet, errorsOf, testFacts } from './fleet.testkit.js';

const FLEET = fileURLToPath(new URL('../../examples/fleet/', import.meta.url));
const PASSWORDS = {
  PROD_SHOP_DB_PASSWORD: 'prod-shop-Pa55word',
  PROD_DB_PASSWORD: 'prod-db-Pa55word',
  STG_SHOP_DB_PASSWORD: 'stg-shop-Pa55word',
  STG_DB_PASSWORD: 'stg-db-Pa55word',
};
const secrets = { env: Object.fromEntries(Object.entries(PASSWORDS).map(([k, v]) => [`TSCONVERGE_SECRET_${k}`, v])) };
const trixie = { os: { family: 'linux', name: 'Debian', version: '13', id: 'debian', codename: 'trixie', prettyName: 'Debian 13' } };

function compile(environment: string, node: string, facts: Record<string, unknown> = {}) {
  return compileFleet(FLEET, { environment, node, facts: testFacts(node, facts), secrets });
}

function at(attrs: unknown, pointer: string): unknown {
  let v = attrs;
  for (const s of pointer.slice(1).split('/')) v = (v as Record<string, unknown>)?.[s];
  return v;
}

describe('examples/fleet', () => {
  it.each([
    ['production', 'web-01', {}, 'web', ['ntp', 'dns', 'docker-logging', 'webapp']],
    ['production', 'db-01', {}, 'db', ['ntp', 'dns', 'sysctl-baseline', 'docker-logging', 'database']],
    ['production', 'lb-01', {}, 'edge', ['ntp', 'dns', 'sysctl-baseline', 'edge-proxy']],
    ['production', 'edge-01', trixie, 'edge', ['ntp', 'dns', 'sysctl-baseline', 'edge-proxy']],
    ['staging', 'stg-web-01', {}, 'web', ['ntp', 'dns', 'docker-logging', 'webapp']],
    ['staging', 'anything-else', {}, 'web', ['ntp', 'dns', 'docker-logging', 'webapp']],
    ['staging', 'stg-db-01', {}, 'db', ['ntp', 'dns', 'database']],
  ])('%s/%s (facts %j) is classified %s', async (env, node, facts, role, modules) => {
    const fc = await compile(env, node, facts);
    expect(fc.role).toBe(role);
    expect(fc.modules).toEqual(modules);
  });

  it.each([
    // layer that decides the value in a comment
    ['production', 'web-01', {}, 'docker.container[shop-app]', '/environment/LOG_LEVEL', 'warn'], // role web
    ['production', 'web-02', {}, 'docker.container[shop-app]', '/environment/LOG_LEVEL', 'info'], // node web-02
    ['production', 'web-03', {}, 'docker.container[shop-app]', '/environment/LOG_LEVEL', 'debug'], // classification rule
    ['production', 'web-01', {}, 'docker.container[shop-app]', '/memory', '256m'],
    ['production', 'web-01', {}, 'docker.container[shop-app]', '/labels', { env: 'production' }], // environment
    ['production', 'web-01', {}, 'docker.container[shop-app]', '/environment/DB_PASSWORD', PASSWORDS.PROD_SHOP_DB_PASSWORD],
    ['production', 'web-01', {}, 'ntp[time]', '/servers', ['ntp1.example.net', 'ntp2.example.net']], // common
    ['production', 'web-02', {}, 'ntp[time]', '/servers', ['ntp1.example.net', 'ntp2.example.net', 'ntp3.example.net']], // !append
    ['production', 'web-01', {}, 'dns[resolver]', '/search', ['prod.example.net', 'example.net']],
    ['production', 'web-01', {}, 'docker.daemon[engine]', '/logOpts', { 'max-size': '20m', 'max-file': '3' }],
    ['production', 'db-01', {}, 'sysctl[vm.swappiness]', '/value', 1],
    ['production', 'db-01', {}, 'sysctl[fs.inotify.max_user_watches]', '/value', 1048576], // facts os.codename=bookworm
    ['production', 'db-02', trixie, 'sysctl[fs.inotify.max_user_watches]', '/value', 524288], // module default
    ['production', 'db-01', {}, 'docker.container[database]', '/memory', '2g'],
    ['production', 'db-01', {}, 'sysctl[net.core.somaxconn]', '/value', 16384], // node db-01
    ['production', 'db-02', {}, 'sysctl[net.core.somaxconn]', '/value', 8192], // role db
    ['staging', 'stg-db-01', {}, 'docker.container[database]', '/memory', '256m'],
    ['production', 'lb-01', {}, 'docker.container[lb-proxy]', '/ports', ['80:8080', '443:8443']],
    ['staging', 'stg-web-01', {}, 'docker.container[shop-stg-app]', '/environment/LOG_LEVEL', 'debug'],
    ['staging', 'stg-web-01', {}, 'docker.daemon[engine]', '/logOpts/max-size', '5m'],
    ['staging', 'stg-web-02', {}, 'docker.container[shop-stg-app]', '/ports', ['127.0.0.1:28080:8080']],
    ['staging', 'stg-web-02', {}, 'docker.container[shop-stg-app]', '/labels', { env: 'staging', canary: 'true' }], // !replace
  ])('%s/%s (facts %j): %s%s', async (env, node, facts, id, pointer, want) => {
    const fc = await compile(env, node, facts);
    const r = fc.catalogue.byId.get(id);
    expect(r, `${id} in ${fc.catalogue.resources.map((x) => x.id).join(', ')}`).toBeDefined();
    expect(at(r!.attrs, pointer)).toEqual(want);
  });

  it('renders templates at compile time', async () => {
    const fc = await compile('production', 'lb-01');
    const conf = fc.catalogue.byId.get('file[lb-proxy-conf]')!;
    expect(conf.attrs.content).toBe('# edge proxy on lb-01 (public)\n# upstream web-01.prod.example.net:18080\n# upstream web-02.prod.example.net:18080\n');
  });

  it('an unclassified production node is an error, not a default', async () => {
    const [e] = await errorsOf(compile('production', 'mail-01'));
    expect(e).toMatchObject({ code: 'NODE_UNCLASSIFIED', file: 'site.yaml' });
  });

  it('needs an environment when there are several', async () => {
    const [e] = await errorsOf(compileFleet(FLEET, { node: 'web-01', facts: testFacts('web-01'), secrets }));
    expect(e!.message).toContain('production, staging');
  });

  it('is deterministic JSON with a content hash, secrets masked, paths relative', async () => {
    const a = serializeCatalogue(await compile('production', 'web-01'));
    const b = serializeCatalogue(await compile('production', 'web-01'));
    expect(a).toBe(b);
    const doc = JSON.parse(a);
    expect(doc.version).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(doc.node).toBe('web-01');
    const app = doc.resources.find((r: { id: string }) => r.id === 'docker.container[shop-app]');
    expect(app.attrs.environment.DB_PASSWORD).toBe('(sensitive)');
    expect(app.sensitive).toEqual(['/environment/DB_PASSWORD']);
    expect(app.source.file).toBe('../../modules/webapp/module.yaml');
    for (const pw of Object.values(PASSWORDS)) expect(a).not.toContain(pw);
    const other = JSON.parse(serializeCatalogue(await compile('production', 'web-02')));
    expect(other.version).not.toBe(doc.version);
  });

  it('a changed secret changes the version', async () => {
    const a = await compile('production', 'web-01');
    const b = await compileFleet(FLEET, {
      environment: 'production',
      node: 'web-01',
      facts: testFacts('web-01'),
      secrets: { env: { ...secrets.env, TSCONVERGE_SECRET_PROD_SHOP_DB_PASSWORD: 'another-Pa55word' } },
    });
    expect(a.catalogue.version).not.toBe(b.catalogue.version);
  });

  it('explain names the file and line that set a value and the layers it overrode', async () => {
    const fc = await compile('production', 'web-02');
    const e = explainValue(fc, 'docker.container[shop-app].environment.LOG_LEVEL');
    expect(e.value).toBe('info');
    expect(e.declared?.template).toBe('{{params.log_level}}');
    const steps = e.parameters[0]!.steps.map((s) => [s.layer, path.basename(s.location.file), s.location.line, s.value, s.overridden]);
    expect(steps).toEqual([
      ['node web-02', 'web-02.yaml', 3, 'info', false],
      ['role web', 'web.yaml', 6, 'warn', true],
      ['module default', 'module.yaml', 38, 'info', true],
    ]);
    expect(formatExplanation(e)).toMatch(/set by +node web-02 at .*web-02\.yaml:3:3: "info"/);
  });

  it.each([
    ['docker.container[shop-app].environment.DB_PASSWORD', '(sensitive)', '!secret prod_shop_db_password'],
    ['ntp[time].servers', ['ntp1.example.net', 'ntp2.example.net', 'ntp3.example.net'], ['ntp3.example.net']],
    ['webapp.db_password', undefined, '!secret prod_shop_db_password'],
  ])('explain %s', async (query, value, top) => {
    const fc = await compile('production', 'web-02');
    const e = explainValue(fc, query);
    if (value !== undefined) expect(e.value).toEqual(value);
    expect(e.parameters[0]!.steps[0]!.value).toEqual(top);
    expect(JSON.stringify(e)).not.toContain(PASSWORDS.PROD_SHOP_DB_PASSWORD);
  });

  it('validates every named node of every environment without reading secrets', async () => {
    const nodes = await validateFleet(FLEET, testFacts('x'));
    expect(nodes.map((n) => `${n.environment}/${n.node}`)).toEqual([
      'production/db-01',
      'production/lb-01',
      'production/web-02',
      'production/web-03',
      'staging/stg-db-01',
      'staging/stg-web-02',
    ]);
  });
});

describe('facts are a claim on the catalogue server: the data files they select hold no secrets', () => {
  const tree = () =>
    createFleet({
      'environments/p/manifests/site.yaml': 'roles:\n  box: { modules: [ntp] }\nnodes:\n  - glob: "*"\n    role: box\n',
      'environments/p/data/facts/os.codename/vault.yaml': 'ntp:\n  servers:\n    - a.example.net\n    - !secret vault_key # for whoever claims the fact\n',
      'environments/p/data/facts/os.codename/bookworm.yaml': 'ntp:\n  servers: [b.example.net]\n',
    });
  const line4 = (e: { file?: string; line?: number; message: string }) => ({
    file: e.file,
    line: e.line,
    secret: /facts os\.codename=vault.*!secret vault_key.*could claim that fact/.test(e.message),
  });

  it('a compile for a node claiming the fact is refused, naming the file and line of the secret', async () => {
    const errors = await errorsOf(
      compileFleet(tree(), {
        node: 'web-01',
        facts: testFacts('web-01', { os: { codename: 'vault' } }),
        secrets: { placeholders: true },
        trustedNamesOnly: true,
      }),
    );
    expect(errors.map(line4)).toEqual([{ file: 'vault.yaml', line: 4, secret: true }]);
  });

  it('the tree is refused at load, though no node the tree names claims the fact', async () => {
    const errors = await errorsOf(validateFleet(tree(), testFacts('x'), undefined, { trustedNamesOnly: true }));
    expect(errors.map(line4)).toEqual([{ file: 'vault.yaml', line: 4, secret: true }]);
  });

  it('the local compiler (the host is the one asking) keeps allowing it', async () => {
    const fc = await compileFleet(tree(), {
      node: 'web-01',
      facts: testFacts('web-01', { os: { codename: 'vault' } }),
      secrets: { env: { TSCONVERGE_SECRET_VAULT_KEY: 'vault.example.net' } },
    });
    expect(fc.catalogue.byId.get('ntp[time]')?.attrs.servers).toEqual(['a.example.net', 'vault.example.net']);
  });
});
