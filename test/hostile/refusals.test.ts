/**
 * Hostile input, refused at validate (issue 22): what the catalogue (and this host's
 * kernel) decides is decided before a run, with file:line:column and the field, exit 1,
 * and nothing written under the root (not the state directory, not compiled.json):
 * an empty manifest, a manifest that is not UTF-8, a resource that requires itself, an
 * unknown sysctl key, logging rule names that would leave their drop-in directory, and,
 * for a fleet tree, every module, role and data file whether or not a node selects it.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, createSandbox, requireDocker, runCli, type Sandbox } from '../support/harness.js';
import { positionOf, runHostileCase, type HostileCase } from './hostile.js';

let sb: Sandbox;
beforeAll(() => {
  requireDocker();
  sb = createSandbox('i22-refuse');
});
afterAll(() => sb?.cleanup());

const file = (name: string, extra = ''): string => `  - kind: file\n    name: ${name}\n    content: "x\\n"\n${extra}`;

const CASES: HostileCase[] = [
  {
    name: 'a zero-byte manifest is refused, not taken as zero resources',
    files: { 'manifest.yaml': '' },
    expect: { file: 'manifest.yaml', line: 1, column: 1, message: /the manifest is empty .*resources: \[\]/, code: 'MANIFEST_EMPTY' },
  },
  {
    name: 'a manifest of comments only is refused as empty',
    files: { 'manifest.yaml': '# resources:\n#   - kind: file\n' },
    expect: { file: 'manifest.yaml', line: 1, column: 1, message: /the manifest is empty/, code: 'MANIFEST_EMPTY' },
  },
  {
    name: 'a manifest that is not UTF-8 is refused at its first bad byte',
    files: { 'manifest.yaml': '' },
    setup: (c) =>
      writeFileSync(
        path.join(c.dir, 'manifest.yaml'),
        Buffer.concat([Buffer.from(`resources:\n${file('/a')}  - kind: file\n    name: /b\n    content: "caf`), Buffer.from([0xe9]), Buffer.from('"\n')]),
      ),
    expect: { file: 'manifest.yaml', line: 7, column: 18, message: /not valid UTF-8: byte 0xe9/, code: 'MANIFEST_INVALID' },
  },
  {
    name: 'a resource that requires itself is a cycle at its require',
    files: { 'manifest.yaml': `resources:\n${file('/a')}${file('/b', '    require: file[/b]\n')}` },
    expect: {
      file: 'manifest.yaml',
      at: 'require:',
      message: /dependency cycle: file\[\/b\] -> file\[\/b\] \(field require names the resource itself\)/,
      code: 'DEPENDENCY_CYCLE',
    },
  },
  {
    name: 'a resource that notifies itself is a cycle at its notify',
    files: { 'manifest.yaml': `resources:\n${file('/a')}${file('/b', '    notify: ["file[/a]", "file[/b]"]\n')}` },
    expect: { file: 'manifest.yaml', at: 'notify:', message: /field notify names the resource itself/, code: 'DEPENDENCY_CYCLE' },
  },
  {
    name: 'an unknown sysctl key is refused at validate, at its name',
    files: { 'manifest.yaml': `resources:\n${file('/a')}  - kind: sysctl\n    name: net.ipv4.i22_no_such_key\n    value: "1"\n` },
    expect: { file: 'manifest.yaml', at: 'name: net.ipv4', message: /unknown sysctl key net\.ipv4\.i22_no_such_key/, code: 'SYSCTL_UNKNOWN_KEY' },
  },
  {
    name: 'a logging.forward name that leaves /etc/rsyslog.d',
    files: { 'manifest.yaml': `resources:\n${file('/a')}  - kind: logging.forward\n    name: ../../../sentinel\n    target: logs.example.net\n` },
    expect: {
      file: 'manifest.yaml',
      at: 'name: ../',
      message: /field name: "\.\.\/\.\.\/\.\.\/sentinel" is not valid here; accepted: a file name for a drop-in directory/,
      code: 'MANIFEST_INVALID',
    },
  },
  {
    name: 'a logging.rotate name that leaves /etc/logrotate.d',
    files: { 'manifest.yaml': `resources:\n${file('/a')}  - kind: logging.rotate\n    name: ../cron.d/evil\n    paths: [/var/log/app.log]\n` },
    expect: { file: 'manifest.yaml', at: 'name: ../', message: /field name: "\.\.\/cron\.d\/evil" is not valid here/, code: 'MANIFEST_INVALID' },
  },
  {
    name: 'a hidden logging.rotate name',
    files: { 'manifest.yaml': `resources:\n${file('/a')}  - kind: logging.rotate\n    name: .hidden\n    paths: [/var/log/app.log]\n` },
    expect: { file: 'manifest.yaml', at: 'name: .hidden', message: /field name: "\.hidden"/, code: 'MANIFEST_INVALID' },
  },
  // Errors at the place and field they are about.
  {
    name: 'a duplicate key is named, with its pointer',
    files: { 'manifest.yaml': `resources:\n${file('/a')}${file('/b')}    content: "again"\n` },
    expect: { file: 'manifest.yaml', line: 8, column: 5, message: /duplicate key "content"/, code: 'MANIFEST_PARSE' },
  },
  {
    name: 'an unclosed quote points where it opens',
    files: { 'manifest.yaml': `resources:\n${file('/a')}  - kind: file\n    name: /b\n    content: "never closed\n${file('/c')}` },
    expect: { file: 'manifest.yaml', at: '"never', message: /unclosed quote: the double-quoted value opened here never ends/, code: 'MANIFEST_PARSE' },
  },
  {
    name: 'nesting beyond the limit names the field at its start',
    files: { 'manifest.yaml': `resources:\n${file('/a')}    parameters:\n      nested: ${'['.repeat(100)}${']'.repeat(100)}\n` },
    expect: {
      file: 'manifest.yaml',
      at: 'nested:',
      message: /nesting deeper than 64 levels in field \/resources\/0\/parameters\/nested/,
      code: 'LIMIT_EXCEEDED',
    },
  },
  {
    name: 'a template syntax error has its column',
    files: {
      'manifest.yaml': `resources:\n${file('/a', '    template: t.hbs\n').replace('    content: "x\\n"\n', '')}`,
      't.hbs': 'line one\nsay {{params.name\n',
    },
    expect: { file: 't.hbs', line: 2, column: 5, message: /syntax error.*named at .*manifest\.yaml:4:5/, code: 'TEMPLATE_ERROR' },
  },
  {
    name: 'a prototype reach split over lines is at the line its {{ opens',
    files: {
      'manifest.yaml': `resources:\n${file('/a', '    template: t.hbs\n    parameters: { x: { a: 1 } }\n').replace('    content: "x\\n"\n', '')}`,
      't.hbs': 'line one\n{{params.x.\nconstructor}}\n',
    },
    expect: { file: 't.hbs', line: 2, column: 1, message: /prototype access is refused/, code: 'TEMPLATE_ERROR' },
  },
];

describe('hostile input: refused at validate, nothing written', () => {
  for (const c of CASES) it(c.name, () => runHostileCase(sb, c), 60_000);

  it('every bad template path of a manifest is reported, not only the first', async () => {
    const m = sb.write(
      'two-templates.yaml',
      `resources:\n  - kind: file\n    name: /a\n    template: /etc/passwd\n  - kind: file\n    name: /b\n    template: ../../../outside.hbs\n  - kind: file\n    name: /c\n    template: missing.hbs\n`,
    );
    const r = await runCli(['validate', m]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('3 problems found');
    expect(r.stderr).toContain(`${m}:4:5 (at /resources/0/template)`);
    expect(r.stderr).toContain(`${m}:7:5 (at /resources/1/template)`);
    expect(r.stderr).toContain(`${m}:10:5 (at /resources/2/template)`);
  });

  it('an explicit empty catalogue (resources: []) is accepted', async () => {
    const m = sb.write('empty-ok.yaml', 'resources: []\n');
    const r = await runCli(['validate', m]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('ok: 0 resources');
  });
});

describe("a fleet node's errors come in one pass", () => {
  it("a module template error is reported beside another module's parameter error", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'i22-fleet-'));
    try {
      cpSync(path.join(REPO, 'examples/fleet'), dir, { recursive: true });
      const tpl = path.join(dir, 'modules/edge-proxy/templates/httpd.conf.hbs');
      writeFileSync(tpl, 'Realm {{params.realm}}\nUpstream {{params.upstreams\n');
      writeFileSync(path.join(dir, 'environments/production/data/nodes/lb-01.yaml'), 'edge-proxy:\n  name: lb\n  realm: public\nntp:\n  servers: 5\n');
      const r = await runCli(['compile', dir, '--node', 'lb-01', '--environment', 'production']);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stderr).toMatch(/module ntp: parameter servers: must be array/);
      expect(r.stderr).toContain(`${tpl}:2:10`);
      expect(r.stderr).toMatch(/syntax error/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('validate of a fleet tree checks every module, role and data file', () => {
  it('reports a module no node selects, a role naming a missing module and a data file for no node, each at its place', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'i22-fleet-'));
    try {
      cpSync(path.join(REPO, 'examples/fleet'), dir, { recursive: true });
      // Classification by glob only: no node is named, validate compiles none.
      for (const env of ['production', 'staging']) rmSync(path.join(dir, 'environments', env, 'data', 'nodes'), { recursive: true, force: true });
      const site = path.join(dir, 'environments/production/manifests/site.yaml');
      writeFileSync(site, 'roles:\n  web:\n    modules: [ntp]\n  spare:\n    modules: [ntp, no-such-module]\nnodes:\n  - glob: "web-*"\n    role: web\n');
      writeFileSync(
        path.join(dir, 'environments/staging/manifests/site.yaml'),
        'roles:\n  web:\n    modules: [ntp]\nnodes:\n  - glob: "stg-*"\n    role: web\n',
      );
      const mod = path.join(dir, 'modules/unused/module.yaml');
      cpSync(path.join(dir, 'modules/database'), path.dirname(mod), { recursive: true });
      const modText =
        'description: A module no node selects.\nparameters:\n  path:\n    description: where\n    default: /etc/unused.conf\nresources:\n  - kind: file\n    name: "{{params.path}}"\n    content: "{{params.nope}}"\n    mode: "0999"\n';
      writeFileSync(mod, modText);
      const tpl = path.join(path.dirname(mod), 'templates', 'unused.conf.hbs');
      cpSync(path.join(dir, 'modules/edge-proxy/templates'), path.dirname(tpl), { recursive: true });
      writeFileSync(tpl, 'ok {{params.path}}\n{{params.constructor}}\n');
      const data = path.join(dir, 'environments/production/data/roles/spare.yaml');
      const dataText = 'ntp:\n  servers: [ntp1.example.net]\n  bogus: 1\n';
      writeFileSync(data, dataText);

      const r = await runCli(['validate', dir]);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).not.toMatch(/ok: fleet tree/);
      const at = (f: string, text: string, needle: string): string => {
        const p = positionOf(text, needle);
        return `${f}:${p.line}:${p.column}`;
      };
      expect(r.stderr).toContain(`${at(mod, modText, 'content:')} (at /resources/0/content): module unused: {{params.nope}} names no parameter of the module`);
      expect(r.stderr).toContain(`${at(mod, modText, 'mode:')} (at /resources/0/mode)`);
      expect(r.stderr).toMatch(/field mode: "0999" is not valid here/);
      expect(r.stderr).toContain(`${at(site, 'roles:\n  web:\n    modules: [ntp]\n  spare:\n    modules: [ntp, no-such-module]\n', 'no-such-module')}`);
      expect(r.stderr).toMatch(/module "no-such-module" not found/);
      expect(r.stderr).toContain(`${at(data, dataText, 'bogus')}`);
      expect(r.stderr).toMatch(/unknown data key "ntp\.bogus" \(layer role spare\)/);
      expect(r.stderr).toContain(`${tpl}:2:1: "params.constructor" reaches "constructor": prototype access is refused`);
      // The templated name and content are left to the nodes that render them: no error there.
      expect(r.stderr).not.toMatch(/field name: "\{\{params\.path\}\}"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
