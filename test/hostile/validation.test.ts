/**
 * Hostile input, validation: paths that try to leave the root, bad ports, image
 * references, addresses, CIDRs, sysctl keys, modes and DNS names, and resources that
 * would fight over one path, container name or sysctl. Each case runs the real CLI
 * (`validate`, and `apply` against a temp root): exit 1, file:line:column and the field,
 * no stack trace, nothing changed (hostile.ts). Escaping paths aim at a sentinel file
 * planted just outside the root, so an escape would show as a changed sentinel.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createSandbox, requireDocker, type Sandbox } from '../support/harness.js';
import { runHostileCase, type HostileCase, type CaseContext } from './hostile.js';

let sb: Sandbox;
beforeAll(() => {
  requireDocker();
  sb = createSandbox('hp-valid');
});
afterAll(() => sb?.cleanup());

type Files = (c: CaseContext) => string;
/** One resource (YAML lines after "- ") in a manifest, plus a valid file resource before it. */
const one =
  (body: string): Files =>
  () =>
    `resources:\n  - kind: file\n    name: /srv/ok.txt\n    content: "fine\\n"\n  - ${body.trim().replace(/\n/g, '\n    ')}\n`;
/** A container carrying the sandbox label, so "no container created" is checked by label. */
const ctr =
  (extra: string): Files =>
  (c) =>
    one(`kind: docker.container\nname: ${c.prefix}-web\nimage: local/busybox:1\nlabels: { tsconverge-test: "${c.id}" }\n${extra}`)(c);

interface Row {
  name: string;
  files: Files;
  at: string;
  message: RegExp;
  code?: string;
}
const ROWS: Row[] = [
  // Paths: absolute, no "..", for every field that names a host path
  {
    name: 'file name climbing out of the root',
    files: one('kind: file\nname: /../../../sentinel.txt\ncontent: "pwned\\n"'),
    at: 'name: /../',
    message: /field name: "\/\.\.\/\.\.\/\.\.\/sentinel\.txt" is not valid here; accepted: an absolute path/,
  },
  {
    name: 'file path climbing out of the root',
    files: one('kind: file\nname: f\npath: /srv/../../sentinel.txt\ncontent: "pwned\\n"'),
    at: 'path:',
    message: /field path: .* no "\.\." component/,
  },
  { name: 'file path .. with ensure absent', files: one('kind: file\nname: f\npath: /..\nensure: absent'), at: 'path:', message: /field path: "\/\.\."/ },
  {
    name: 'file path with a NUL byte',
    files: one('kind: file\nname: f\npath: "/srv/a\\0b"\ncontent: x'),
    at: 'path:',
    message: /field path: .* accepted: an absolute path/,
  },
  {
    name: 'relative file path',
    files: one('kind: file\nname: f\npath: etc/passwd\ncontent: x'),
    at: 'path:',
    message: /field path: "etc\/passwd" is not valid/,
  },
  {
    name: 'relative file name without a path',
    files: one('kind: file\nname: etc-passwd\ncontent: x'),
    at: 'name: etc-passwd',
    message: /field name: "etc-passwd" is not valid here; accepted: an absolute path/,
  },
  {
    name: 'bind-mount source climbing out',
    files: ctr('mounts: [{ type: bind, source: /srv/../../etc, target: /host-etc }]'),
    at: 'source:',
    message: /field mounts\/0\/source: "\/srv\/\.\.\/\.\.\/etc"/,
  },
  { name: 'bind mount without a source', files: ctr('mounts: [{ type: bind, target: /x }]'), at: '{ type: bind', message: /missing required field "source"/ },
  {
    name: 'mount target with ..',
    files: ctr('mounts: [{ type: volume, source: data, target: /a/../../b }]'),
    at: 'target: /a',
    message: /field mounts\/0\/target/,
  },
  {
    name: 'docker.daemon configPath climbing out',
    files: one('kind: docker.daemon\nname: engine\nconfigPath: /etc/docker/../../../sentinel.txt'),
    at: 'configPath:',
    message: /field configPath: .* no "\.\." component/,
  },
  {
    name: 'ntp configPath relative',
    files: one('kind: ntp\nname: time\nservers: [ntp1.example.net]\nconfigPath: chrony.conf'),
    at: 'configPath:',
    message: /field configPath: "chrony\.conf"/,
  },
  {
    name: 'logging.rotate path glob climbing out',
    files: one('kind: logging.rotate\nname: app\npaths: ["/var/log/../../../sentinel.txt"]'),
    at: '"/var/log',
    message: /field paths\/0: .* no "\.\." component/,
  },
  {
    name: 'logging.forward configPath with ..',
    files: one('kind: logging.forward\nname: fwd\ntarget: logs.example.net\nconfigPath: /etc/rsyslog.d/../../x.conf'),
    at: 'configPath:',
    message: /field configPath/,
  },
  {
    name: 'service pidfile climbing out',
    files: one('kind: service\nname: app\nstart: [/bin/true]\npidfile: /run/../../sentinel.txt'),
    at: 'pidfile:',
    message: /field pidfile/,
  },
  {
    name: 'ntp driftfile relative',
    files: one('kind: ntp\nname: time\nservers: [ntp1.example.net]\ndriftfile: ../drift'),
    at: 'driftfile:',
    message: /field driftfile/,
  },
  // Ports
  {
    name: 'host port above 65535',
    files: ctr('ports: ["70000:80"]'),
    at: '"70000:80"',
    message: /field ports\/0: "70000:80" is not valid here; accepted: "\[hostIp:\]\[hostPort:\]containerPort/,
  },
  { name: 'container port 0', files: ctr('ports: ["8080:0"]'), at: '"8080:0"', message: /field ports\/0: "8080:0"/ },
  { name: 'unknown protocol', files: ctr('ports: ["80/icmp"]'), at: '"80/icmp"', message: /field ports\/0: "80\/icmp"/ },
  { name: 'bad host address in a port spec', files: ctr('ports: ["999.0.0.1:8080:80"]'), at: '"999.0.0.1', message: /field ports\/0/ },
  {
    name: 'published port 65536 as an object',
    files: ctr('ports: [{ target: 80, published: 65536 }]'),
    at: 'published:',
    message: /field ports\/0\/published: must be <= 65535/,
  },
  {
    name: 'hostIp that is a name',
    files: ctr('ports: [{ target: 80, hostIp: localhost }]'),
    at: 'hostIp:',
    message: /field ports\/0\/hostIp: "localhost" is not valid here; accepted: an IPv4 or IPv6 address/,
  },
  {
    name: 'logging.forward port 0',
    files: one('kind: logging.forward\nname: fwd\ntarget: logs.example.net\nport: 0'),
    at: 'port: 0',
    message: /field port: must be >= 1/,
  },
  // Image references
  {
    name: 'uppercase image name',
    files: (c) => ctr('')(c).replace('image: local/busybox:1', 'image: "Local/BusyBox:1"'),
    at: 'image:',
    message: /field image: "Local\/BusyBox:1" is not valid here; accepted: a Docker image reference/,
  },
  {
    name: 'image with a space',
    files: (c) => ctr('')(c).replace('image: local/busybox:1', 'image: "busybox latest"'),
    at: 'image:',
    message: /field image: "busybox latest"/,
  },
  {
    name: 'image with an empty tag',
    files: (c) => ctr('')(c).replace('image: local/busybox:1', 'image: "busybox:"'),
    at: 'image:',
    message: /field image: "busybox:"/,
  },
  {
    name: 'image with a short digest',
    files: (c) => ctr('')(c).replace('image: local/busybox:1', 'image: "busybox@sha256:abc"'),
    at: 'image:',
    message: /field image: "busybox@sha256:abc"/,
  },
  {
    name: 'image with an option-like name',
    files: (c) => ctr('')(c).replace('image: local/busybox:1', 'image: "--privileged"'),
    at: 'image:',
    message: /field image: "--privileged"/,
  },
  {
    name: 'docker.image name that is no reference',
    files: one('kind: docker.image\nname: "UPPER/case"'),
    at: 'name: "UPPER',
    message: /field name: "UPPER\/case" is not valid here; accepted: a Docker image reference/,
  },
  // Addresses and CIDRs
  {
    name: 'nameserver out of range',
    files: one('kind: dns\nname: resolv\nnameservers: [1.2.3.999]'),
    at: '1.2.3.999',
    message: /field nameservers\/0: "1\.2\.3\.999" is not valid here; accepted: an IPv4 or IPv6 address/,
  },
  { name: 'container dns that is not an address', files: ctr('dns: ["8.8.8"]'), at: '"8.8.8"', message: /field dns\/0: "8\.8\.8"/ },
  {
    name: 'network subnet with prefix 33',
    files: one('kind: docker.network\nname: net\nsubnet: 10.0.0.0/33'),
    at: 'subnet:',
    message: /field subnet: "10\.0\.0\.0\/33" is not valid here; accepted: an address and prefix length/,
  },
  {
    name: 'network gateway that is a name',
    files: one('kind: docker.network\nname: net\nsubnet: 10.9.0.0/16\ngateway: router'),
    at: 'gateway:',
    message: /field gateway: "router"/,
  },
  {
    name: 'daemon address pool without a prefix',
    files: one('kind: docker.daemon\nname: engine\ndefaultAddressPools: [{ base: 10.0.0.0, size: 24 }]'),
    at: 'base:',
    message: /field defaultAddressPools\/0\/base: "10\.0\.0\.0"/,
  },
  {
    name: 'hosts entry address invalid',
    files: one('kind: dns\nname: resolv\nhosts: [{ address: 10.0.0.256, names: [db] }]'),
    at: 'address:',
    message: /field hosts\/0\/address: "10\.0\.0\.256"/,
  },
  // Sysctl keys
  {
    name: 'sysctl key climbing out of /proc/sys',
    files: one('kind: sysctl\nname: net/ipv4/../../../etc/passwd\nvalue: "1"'),
    at: 'name: net/',
    message: /field name: "net\/ipv4\/\.\.\/\.\.\/\.\.\/etc\/passwd" is not valid here; accepted: a kernel parameter/,
  },
  {
    name: 'sysctl key with an empty component',
    files: one('kind: sysctl\nname: net..core\nvalue: "1"'),
    at: 'name: net..',
    message: /field name: "net\.\.core"/,
  },
  { name: 'sysctl key of one word', files: one('kind: sysctl\nname: kernel\nvalue: "1"'), at: 'name: kernel', message: /field name: "kernel"/ },
  {
    name: 'container sysctl key with a space',
    files: ctr('sysctls: { "net.core somaxconn": "1" }'),
    at: '"net.core somaxconn"',
    message: /field sysctls\/net\.core somaxconn: key "net\.core somaxconn" is not valid here/,
  },
  // Modes
  {
    name: 'mode with a digit above 7',
    files: one('kind: file\nname: /srv/m\ncontent: x\nmode: "0998"'),
    at: 'mode:',
    message: /field mode: "0998" is not valid here; accepted: an octal mode string/,
  },
  { name: 'mode with a 0o prefix', files: one('kind: file\nname: /srv/m\ncontent: x\nmode: "0o644"'), at: 'mode:', message: /field mode: "0o644"/ },
  { name: 'mode as a YAML number', files: one('kind: file\nname: /srv/m\ncontent: x\nmode: 644'), at: 'mode:', message: /field mode: must be string/ },
  { name: 'mode with five digits', files: one('kind: file\nname: /srv/m\ncontent: x\nmode: "17777"'), at: 'mode:', message: /field mode: "17777"/ },
  // DNS names
  {
    name: 'search domain with a bang',
    files: one('kind: dns\nname: resolv\nsearch: ["bad domain!"]'),
    at: '"bad domain!"',
    message: /field search\/0: "bad domain!" is not valid here; accepted: a DNS name/,
  },
  {
    name: 'hosts name starting with a hyphen',
    files: one('kind: dns\nname: resolv\nhosts: [{ address: 10.0.0.5, names: ["-db"] }]'),
    at: '"-db"',
    message: /field hosts\/0\/names\/0: "-db"/,
  },
  { name: 'container hostname with an empty label', files: ctr('hostname: web..local'), at: 'hostname:', message: /field hostname: "web\.\.local"/ },
  {
    name: 'ntp server with a label over 63 characters',
    files: one(`kind: ntp\nname: time\nservers: [${'a'.repeat(64)}.example.net]`),
    at: 'aaaa',
    message: /field servers\/0: "a{20}/,
  },
  // Two resources, one thing
  {
    name: 'two files managing one path',
    files: () =>
      'resources:\n  - kind: file\n    name: motd\n    path: /etc/motd\n    content: "a\\n"\n  - kind: file\n    name: /etc/motd\n    content: "b\\n"\n',
    at: 'name: /etc/motd',
    message: /path \/etc\/motd is managed twice: here and by file\[motd\] at .*manifest\.yaml:4:5/,
    code: 'RESOURCE_CONFLICT',
  },
  {
    name: 'two files, one path spelled differently',
    files: () =>
      'resources:\n  - kind: file\n    name: a\n    path: /srv/app/\n    ensure: directory\n  - kind: file\n    name: b\n    path: /srv//app\n    ensure: directory\n',
    at: 'path: /srv//app',
    message: /path \/srv\/app is managed twice/,
    code: 'RESOURCE_CONFLICT',
  },
  {
    name: 'a file and docker.daemon on daemon.json',
    files: () =>
      'resources:\n  - kind: docker.daemon\n    name: engine\n    liveRestore: true\n  - kind: file\n    name: /etc/docker/daemon.json\n    content: "{}"\n',
    at: 'name: /etc/docker',
    message: /path \/etc\/docker\/daemon\.json is managed twice: here and by docker\.daemon\[engine\]/,
    code: 'RESOURCE_CONFLICT',
  },
  {
    name: 'one sysctl in dotted and slash form',
    files: () =>
      'resources:\n  - kind: sysctl\n    name: net.ipv4.ip_forward\n    value: "1"\n  - kind: sysctl\n    name: net/ipv4/ip_forward\n    value: "0"\n',
    at: 'name: net/',
    message: /sysctl net\/ipv4\/ip_forward is managed twice: here and by sysctl\[net\.ipv4\.ip_forward\]/,
    code: 'RESOURCE_CONFLICT',
  },
  {
    name: 'one container name, with and without a slash',
    files: (c) =>
      `resources:\n  - kind: docker.container\n    name: ${c.prefix}-a\n    image: local/busybox:1\n    labels: { tsconverge-test: "${c.id}" }\n  - kind: docker.container\n    name: /${c.prefix}-a\n    image: local/busybox:1\n    labels: { tsconverge-test: "${c.id}" }\n`,
    at: 'name: /',
    message: /container name .* is managed twice: here and by docker\.container\[/,
    code: 'RESOURCE_CONFLICT',
  },
  {
    name: 'the same resource declared twice',
    files: () => 'resources:\n  - kind: file\n    name: /srv/x\n    content: "1"\n  - kind: file\n    name: /srv/x\n    content: "2"\n',
    at: 'name: /srv/x\n    content: "2"',
    message: /file\[\/srv\/x\] is declared twice/,
    code: 'DUPLICATE_RESOURCE',
  },
];

const CASES: HostileCase[] = ROWS.map((r) => ({
  name: r.name,
  files: { 'manifest.yaml': r.files },
  expect: { file: 'manifest.yaml', at: r.at, message: r.message, code: r.code ?? 'MANIFEST_INVALID' },
}));

describe('hostile input: validation', () => {
  it.concurrent.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    await runHostileCase(sb, c);
  });
});
