import { describe, expect, it } from 'vitest';
import { checkSite, classifyNode, globToRegExp } from './classify.js';
import { parseYamlTree } from './yamltree.js';
import { errorsOf, testFacts } from './fleet.testkit.js';

const SITE = `roles:
  web: { modules: [ntp, webapp] }
  db: { modules: [ntp, database] }
  edge: { modules: [edge-proxy] }
nodes:
  - glob: "web-*"
    role: web
  - regex: "^db-[0-9]+$"
    role: db
  - name: web-lb
    role: edge
  - facts: { os.codename: bookworm }
    modules: [sysctl-baseline]
  - facts: { kernel.arch: [arm64, aarch64] }
    params: { ntp: { pools: [] } }
`;

function site(text: string) {
  const { tree, errors } = parseYamlTree('/fleet/site.yaml', text, { secrets: true, markers: true });
  expect(errors).toEqual([]);
  return tree!;
}

describe('classifyNode', () => {
  it.each([
    ['glob', 'web-01', {}, 'web', ['ntp', 'webapp', 'sysctl-baseline']],
    ['regex', 'db-7', {}, 'db', ['ntp', 'database', 'sysctl-baseline']],
    ['exact name beats glob', 'web-lb', {}, 'edge', ['edge-proxy', 'sysctl-baseline']],
    ['facts add modules only', 'web-02', { os: { codename: 'trixie' } }, 'web', ['ntp', 'webapp']],
  ])('%s: %s', (_n, node, facts, role, modules) => {
    const c = classifyNode(site(SITE), node, testFacts(node, facts));
    expect(c.role).toBe(role);
    expect(c.modules.map((m) => m.name)).toEqual(modules);
  });

  it('fact rules with a list match any of its values and contribute params', () => {
    const c = classifyNode(site(SITE), 'web-09', testFacts('web-09', { kernel: { arch: 'aarch64' } }));
    expect(c.params).toEqual(['/nodes/4/params']);
  });

  it.each([
    ['no match, no default', SITE, 'mail-01', 'NODE_UNCLASSIFIED', 5],
    ['two roles at the same level', SITE + '  - glob: "web-0?"\n    role: db\n', 'web-01', 'ROLE_CONFLICT', 17],
  ])('%s is an error naming the line', async (_n, text, node, code, line) => {
    const [e] = await errorsOf(Promise.resolve().then(() => classifyNode(site(text), node, testFacts(node))));
    expect(e).toMatchObject({ code, file: 'site.yaml', line });
  });

  it('a default gives unmatched nodes a role', () => {
    expect(classifyNode(site(SITE + 'default: { role: web }\n'), 'mail-01', testFacts('mail-01')).role).toBe('web');
  });

  it.each([
    ['unknown role', SITE.replace('role: db', 'role: dbs'), 'unknown role "dbs"', 9],
    ['two name matchers in one rule', SITE.replace('- name: web-lb', '- name: web-lb\n    glob: "x*"'), 'name and glob', 10],
    ['bad regex', SITE.replace('^db-[0-9]+$', '^db-[0-9+$'), 'invalid regular expression', 8],
    ['unknown field', SITE.replace('role: edge', 'role: edge\n    rol: x'), 'unknown field "rol"', 12],
  ])('checkSite: %s', (_n, text, message, line) => {
    const [e] = checkSite(site(text));
    expect(e?.message).toContain(message);
    expect(e?.location?.line).toBe(line);
  });
});

describe('checkSite with trusted names only (the catalogue server: facts are a claim)', () => {
  const NAMED = `roles:
  web: { modules: [ntp] }
nodes:
  - glob: "web-*"
    role: web
`;
  it.each([
    ['facts rule giving a role', NAMED + '  - facts: { os.codename: vault }\n    role: web\n', /cannot give role/, 7, 'role'],
    ['facts rule giving modules', NAMED + '  - facts: { os.codename: vault }\n    modules: [database]\n', /cannot give modules/, 7, 'modules'],
    ['name and facts together giving a role', NAMED + '  - glob: "db-*"\n    facts: { os.codename: vault }\n    role: web\n', /cannot give role/, 8, 'role'],
    [
      'facts rule with a secret in its params',
      NAMED + '  - facts: { os.codename: vault }\n    params: { db: { password: !secret db_pw } }\n',
      /cannot hand out secrets/,
      7,
      'params',
    ],
  ])('%s is refused, naming the line', (_n, text, message, line, field) => {
    const errors = checkSite(site(text), { trustedNamesOnly: true });
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(message);
    expect(errors[0]!.location).toMatchObject({ file: '/fleet/site.yaml', line, pointer: `/nodes/1/${field}` });
    // Without a trusted name (a local compile, where the host is the one asking) the rule stands.
    expect(checkSite(site(text))).toEqual([]);
  });

  it.each([
    ['facts rule setting params', NAMED + '  - facts: { os.codename: bookworm }\n    params: { ntp: { provider: chrony } }\n'],
    ['a default role', NAMED + 'default: { role: web, modules: [dns] }\n'],
    ['name rules only', NAMED],
  ])('%s is allowed', (_n, text) => {
    expect(checkSite(site(text), { trustedNamesOnly: true })).toEqual([]);
  });
});

describe('globToRegExp', () => {
  it.each([
    ['web-*', 'web-01', true],
    ['web-*', 'db-01', false],
    ['web-0?', 'web-01', true],
    ['web-0?', 'web-011', false],
    ['db-[12]', 'db-1', true],
    ['db-[!12]', 'db-1', false],
    ['a.b', 'axb', false],
  ])('%s ~ %s = %s', (glob, name, want) => {
    expect(globToRegExp(glob).test(name)).toBe(want);
  });
});

describe('regexes run in linear time (RE2)', () => {
  const site = (rule: string) => SITE.replace('- regex: "^db-[0-9]+$"', rule);
  it.each([
    ['nested quantifier', '- regex: "^(a+)+$"'],
    ['alternation blow-up', '- regex: "^(a|a)*$"'],
    ['glob with many stars', '- glob: "*a*a*a*a*a*a*a*a*b"'],
  ])('%s against a 100,000-character node name answers (a backtracking engine never would)', (_name, rule) => {
    const tree = parseYamlTree('site.yaml', site(rule), { secrets: true, markers: true }).tree!;
    expect(checkSite(tree)).toEqual([]);
    // No match for this name: the rule is skipped and the node falls through to no role.
    expect(() => classifyNode(tree, 'a'.repeat(100_000) + '!', {} as never)).toThrow(/matches no rule/);
  });
  it('refuses a backreference (RE2 cannot run it in linear time)', () => {
    const tree = parseYamlTree('site.yaml', site('- regex: "^(a)\\\\1$"'), { secrets: true, markers: true }).tree!;
    expect(
      checkSite(tree)
        .map((e) => e.message)
        .join(),
    ).toMatch(/invalid regular expression/);
  });
});
