/**
 * On the catalogue server a node is its certificate's name; its facts are only what it
 * claims. Two real agents, one lying in its facts (its root's /etc/os-release claims the
 * codename "vault"): facts fill parameters, but what a node receives (role, modules,
 * secrets) is decided by name only, and a site.yaml rule that would let facts decide it is
 * refused at load with its file and line while the last good code stays served.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, freePort } from '../support/harness.js';
import { startServer, tempDir, writeFleet, type ServerProc } from '../support/server.js';
import { request } from '../../src/server/client.js';

const PORT = await freePort();
const SECRET = 'vault-only-secret-value';
const work = tempDir('classify');
const fleet = path.join(work, 'fleet');
const state = path.join(work, 'server');
let server: ServerProc;
let fingerprint: string;
const honest = { node: 'hs-cvault', codename: 'bookworm', root: path.join(work, 'root-vault'), state: path.join(work, 'state-vault') };
const liar = { node: 'hs-cliar', codename: 'vault', root: path.join(work, 'root-liar'), state: path.join(work, 'state-liar') };

const SITE = `roles:
  box:
    modules: [motd]
nodes:
  - glob: "hs-c*"
    role: box
  # The secret goes to a node by its name.
  - name: hs-cvault
    params:
      motd: { token: !secret hs_token }
  # Facts may fill parameters.
  - facts: { os.codename: vault }
    params:
      motd: { message: "claims to be a vault" }
`;

async function agent(n: typeof honest) {
  const r = await runCli([
    'agent',
    '--server',
    server.url,
    '--ca-fingerprint',
    fingerprint,
    '--node',
    n.node,
    '--state-dir',
    n.state,
    '--root',
    n.root,
    '--connect-timeout',
    '2',
    '--onetime',
  ]);
  const dir = path.join(n.state, 'reports');
  const newest = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .pop()
    : undefined;
  return { ...r, json: newest ? JSON.parse(readFileSync(path.join(dir, newest), 'utf8')) : undefined };
}

beforeAll(async () => {
  writeFleet(fleet, 'hello');
  writeFileSync(path.join(fleet, 'environments/production/manifests/site.yaml'), SITE);
  rmSync(path.join(fleet, 'environments/production/data/nodes'), { recursive: true }); // hs-a's: not a node of this test
  for (const n of [honest, liar]) {
    mkdirSync(path.join(n.root, 'etc'), { recursive: true });
    writeFileSync(path.join(n.root, 'etc/os-release'), `ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=${n.codename}\n`);
  }
  const init = await runCli(['ca', 'init', '--state-dir', state]);
  expect(init.code, init.stderr).toBe(0);
  fingerprint = /fingerprint: (sha256:[0-9a-f]{64})/.exec(init.stdout)![1]!;
  writeFileSync(path.join(work, 'autosign'), 'hs-c*\n');
  server = await startServer(['--fleet', fleet, '--state-dir', state, '--autosign', path.join(work, 'autosign')], PORT, { TSCONVERGE_SECRET_HS_TOKEN: SECRET });
}, 180_000);

afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('classification by the certificate name, facts only a claim', () => {
  it('the lying agent gets the parameters its facts fill, never the secret its name does not get', async () => {
    for (const n of [honest, liar]) {
      const r = await agent(n);
      expect(r.code, r.stderr + server.log()).toBe(2);
    }
    expect(readFileSync(path.join(honest.root, 'etc/motd'), 'utf8')).toBe('hello\n');
    expect(readFileSync(path.join(honest.root, 'etc/token'), 'utf8')).toBe(SECRET);
    expect(readFileSync(path.join(liar.root, 'etc/motd'), 'utf8')).toBe('claims to be a vault\n');
    expect(existsSync(path.join(liar.root, 'etc/token'))).toBe(false);
    expect(readFileSync(path.join(liar.state, 'reports', readdirSync(path.join(liar.state, 'reports')).sort().pop()!), 'utf8')).not.toContain(SECRET);
  });

  it.each([
    ['a role', '  - facts: { os.codename: vault }\n    role: box\n    params:\n      motd: { message: "vault role" }\n', /cannot give role/, 'role'],
    ['a secret', '  - facts: { os.codename: vault }\n    params:\n      motd: { token: !secret hs_token }\n', /cannot hand out secrets/, 'params'],
  ])('a rule letting facts give %s is refused at load, naming site.yaml and the line; the last good code stays served', async (_n, rule, message, field) => {
    expect(rule.split('\n')[1]).toContain(`${field}:`);
    const before = await request(server.url, 'v1/health', { ca: readFileSync(path.join(state, 'ca', 'ca.crt'), 'utf8') });
    const served = (JSON.parse(before.body.toString()) as { codeVersion: string }).codeVersion;
    writeFileSync(path.join(fleet, 'environments/production/manifests/site.yaml'), SITE + rule);
    const logged = server.log().length;
    server.proc.kill('SIGHUP');
    for (let i = 0; i < 150 && !/does not compile/.test(server.log().slice(logged)); i++) await new Promise((r) => setTimeout(r, 100));
    const log = server.log().slice(logged);
    // The rule's first line is the last of SITE.split (SITE ends with a newline); `role:` or `params:` is the next.
    const line = SITE.split('\n').length + 1;
    expect(log).toMatch(message);
    expect(log).toContain(`${path.join(fleet, 'environments/production/manifests/site.yaml')}:${line}:`);
    const health = JSON.parse((await request(server.url, 'v1/health', { ca: readFileSync(path.join(state, 'ca', 'ca.crt'), 'utf8') })).body.toString()) as {
      codeVersion: string;
      codeError: boolean;
    };
    expect(health).toMatchObject({ codeVersion: served, codeError: true });
    // The liar's next run: still the last good code, still no secret.
    const r = await agent(liar);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.cachedCatalogue).toBe(false);
    expect(existsSync(path.join(liar.root, 'etc/token'))).toBe(false);
    writeFileSync(path.join(fleet, 'environments/production/manifests/site.yaml'), SITE);
  });

  it('changed facts are new bytes, so a new compile: the liar telling the truth loses the facts-filled message', async () => {
    writeFileSync(path.join(liar.root, 'etc/os-release'), 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n');
    const r = await agent(liar);
    expect(r.code, r.stderr).toBe(2);
    expect(r.json.cachedCatalogue).toBe(false);
    expect(readFileSync(path.join(liar.root, 'etc/motd'), 'utf8')).toBe('hello\n');
  });
});
