/**
 * Kind `logging.forward`: forward host syslog messages to a central syslog server
 * through an rsyslog omfwd action.
 *
 * Owned: the whole file /etc/rsyslog.d/90-tsconverge-<name>.conf (or `configPath`).
 * A new file is checked with `rsyslogd -N1 -f FILE` before it replaces the old one;
 * a rejected file leaves the old one byte-identical. rsyslog reads it on restart: let
 * this resource notify the `service` that runs rsyslogd.
 */
import { TsconvergeError } from '../../core/errors.js';
import { compactView, runCommand, tail } from '../hostio.js';
import type { ProcessRunner } from '../../core/exec.js';
import type { Provider, Resource, View } from '../types.js';
import { checkDropInName, createOwnedFileProvider, type OwnedFileAttrs, type OwnedFileObserved } from './owned.js';

export interface ForwardAttrs extends OwnedFileAttrs {
  readonly target?: string;
  readonly port?: number;
  readonly protocol?: 'tcp' | 'udp';
  readonly selector?: string;
  readonly template?: string;
  readonly parameters?: Readonly<Record<string, string>>;
  readonly configPath?: string;
}

export const FORWARD_DEFAULTS = { port: 514, protocol: 'tcp', selector: '*.*' } as const;
const MODELLED = ['type', 'target', 'port', 'protocol', 'template'];

function quote(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function renderForward(a: ForwardAttrs, owner: string): string {
  const params: [string, string][] = [
    ['type', 'omfwd'],
    ['target', a.target ?? ''],
    ['port', String(a.port ?? FORWARD_DEFAULTS.port)],
    ['protocol', a.protocol ?? FORWARD_DEFAULTS.protocol],
    ...(a.template !== undefined ? [['template', a.template] as [string, string]] : []),
    ...Object.keys(a.parameters ?? {})
      .sort()
      .map((k) => [k, a.parameters![k]!] as [string, string]),
  ];
  return (
    [
      `# Managed by tsconverge (${owner}). Changes made by hand are reverted on the next run.`,
      `${a.selector ?? FORWARD_DEFAULTS.selector} action(${params.map(([k, v]) => `${k}=${quote(v)}`).join(' ')})`,
    ].join('\n') + '\n'
  );
}

/** Parse the owned file: the first omfwd action becomes the rule; every other line is extra. */
export function forwardView(text: string): View {
  let rule: Record<string, string> | null = null;
  let selector: string | null = null;
  const extraLines: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+)\s+action\((.*)\)$/.exec(line);
    if (!m || rule) {
      extraLines.push(line.split(/\s+/).join(' '));
      continue;
    }
    selector = m[1]!;
    rule = {};
    const re = /([\w.]+)\s*=\s*"((?:[^"\\]|\\.)*)"/g;
    for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) {
      // rsyslog parameter names are case-insensitive; the ones modelled here are keyed in lower case.
      const name = MODELLED.includes(p[1]!.toLowerCase()) ? p[1]!.toLowerCase() : p[1]!;
      rule[name] = p[2]!.replace(/\\(.)/g, '$1');
    }
  }
  const { type = null, target = null, port = null, protocol = null, template = null, ...parameters } = rule ?? {};
  return compactView({
    selector,
    target,
    port: port === null ? null : Number(port),
    protocol: protocol === null ? null : protocol.toLowerCase(),
    template,
    // The action type is always omfwd; a hand edit of it shows as parameters/type.
    parameters: Object.fromEntries(
      Object.entries({ ...parameters, ...(type !== null && type !== 'omfwd' ? { type } : {}) }).sort(([x], [y]) => x.localeCompare(y)),
    ),
    extraLines,
  });
}

export async function checkForward(
  rsyslogd: string,
  file: string,
  target: string,
  resource: string,
  signal?: AbortSignal,
  exec?: ProcessRunner,
): Promise<void> {
  const res = await runCommand(rsyslogd, ['-N1', '-f', file], { signal, timeoutMs: 30_000, exec });
  if (res.code === 0) return;
  const message = tail(res.stderr + '\n' + res.stdout, 3)
    .split(file)
    .join('the new rule file')
    .replace(/\s+/g, ' ');
  throw new TsconvergeError('CONFIG_REJECTED', `rsyslogd rejected the new forwarding rule: ${message}; ${target} was left unchanged`, {
    resource,
    terminal: true,
    hint: 'fix the declared target, template or parameters so that `rsyslogd -N1 -f FILE` accepts them',
  });
}

export function forwardConfigPath(r: Resource<ForwardAttrs>): string {
  return r.attrs.configPath ?? `/etc/rsyslog.d/90-tsconverge-${checkDropInName(r.name, r.id)}.conf`;
}

export function createForwardProvider(): Provider<ForwardAttrs, OwnedFileObserved> {
  return createOwnedFileProvider<ForwardAttrs>({
    kind: 'logging.forward',
    checker: { binary: 'rsyslogd', pkg: 'rsyslog', checks: 'rsyslog forwarding rules' },
    path: forwardConfigPath,
    render: (r) => renderForward(r.attrs, r.id),
    toView: forwardView,
    check: (rsyslogd, tmp, _content, target, r, ctx) => checkForward(rsyslogd, tmp, target, r.id, ctx.signal, ctx.exec),
  });
}
