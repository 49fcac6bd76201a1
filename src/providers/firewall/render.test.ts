/**
 * The pure half of the firewall kinds: rules in words, address ranges as iptables prints
 * them, the lines a rule and a policy render to, the sorting lines, a restore that keeps
 * other resources' lines and counters, and the published-port warning. The lines are held
 * to iptables' own output by test/integration/firewall.test.ts (apply again: nothing).
 */
import { describe, expect, it } from 'vitest';
import { baseLines, parseSave, restoreText } from './iptables.js';
import { normaliseCidr, renderPolicy, renderRule, ruleWords, type Resolution } from './render.js';
import { cutPorts } from './policy.js';

const res: Resolution = {
  containers: new Map([
    ['web', { v4: ['172.18.0.4'], v6: [] }],
    ['db', { v4: ['172.18.0.3'], v6: ['fd00::3'] }],
    ['down', null],
  ]),
  networks: new Map([['app', 'br-aaaa']]),
  bridges: ['br-aaaa', 'docker0'],
  nflog: false,
};

describe('firewall rendering', () => {
  it('says a rule in words', () => {
    expect(ruleWords({ from: { container: 'web' }, to: { container: 'db' }, ports: [5432] })).toBe('allow web -> db tcp/5432');
    expect(ruleWords({ from: 'outside', to: { container: 'db' }, action: 'drop' })).toBe('drop outside -> db');
    expect(ruleWords({ from: { network: 'app' }, to: 'outside', proto: 'udp', ports: [53, '6000-6010'], action: 'reject', log: true })).toBe(
      'reject network app -> outside udp/53,6000-6010 (logged)',
    );
  });

  it('writes ranges as iptables prints them', () => {
    expect(normaliseCidr('10.1.2.3/8')).toEqual({ text: '10.0.0.0/8', family: 'v4' });
    expect(normaliseCidr('10.1.2.3')).toEqual({ text: '10.1.2.3/32', family: 'v4' });
    expect(normaliseCidr('fd00:0:0:0::17/64')).toEqual({ text: 'fd00::/64', family: 'v6' });
  });

  it('renders a rule per family into the pair chains its ends can be in, ports as dialled (conntrack)', () => {
    const r = renderRule('web-db', { from: { container: 'web' }, to: { container: 'db' }, ports: [5432, '6000-6001'] }, res);
    expect(r.v4).toEqual([
      '-A TSC-FW-II -s 172.18.0.4/32 -d 172.18.0.3/32 -p tcp -m conntrack --ctorigdstport 5432 -m comment --comment "tsc:r:01000:web-db:v" -j RETURN',
      '-A TSC-FW-II -s 172.18.0.4/32 -d 172.18.0.3/32 -p tcp -m conntrack --ctorigdstport 6000:6001 -m comment --comment "tsc:r:01000:web-db:v" -j RETURN',
    ]);
    expect(r.v6).toEqual([]); // web has no IPv6 address
    const out = renderRule('x', { from: 'outside', to: { cidr: '10.0.0.0/8' }, action: 'drop', log: true, logRate: '3/second' }, res);
    expect(out.v4).toEqual([
      '-A TSC-FW-OI -d 10.0.0.0/8 -m comment --comment "tsc:r:01000:x" -m limit --limit 3/sec -j LOG --log-prefix "tsc drop x: "',
      '-A TSC-FW-OI -d 10.0.0.0/8 -m comment --comment "tsc:r:01000:x:v" -j DROP',
      '-A TSC-FW-OO -d 10.0.0.0/8 -m comment --comment "tsc:r:01000:x" -m limit --limit 3/sec -j LOG --log-prefix "tsc drop x: "',
      '-A TSC-FW-OO -d 10.0.0.0/8 -m comment --comment "tsc:r:01000:x:v" -j DROP',
    ]);
    expect(out.v6).toEqual([]);
    expect(renderRule('y', { from: { container: 'down' }, to: 'outside' }, res).unresolved).toEqual([
      'container down has no address (not created or not running)',
    ]);
  });

  it('renders a drop policy for a network and for outside', () => {
    expect(renderPolicy('app', { default: 'drop' }, res).v4).toEqual([
      '-A TSC-FW-II -i br-aaaa -m comment --comment "tsc:p:app:v" -j DROP',
      '-A TSC-FW-II -o br-aaaa -m comment --comment "tsc:p:app:v" -j DROP',
      '-A TSC-FW-IO -i br-aaaa -m comment --comment "tsc:p:app:v" -j DROP',
      '-A TSC-FW-OI -o br-aaaa -m comment --comment "tsc:p:app:v" -j DROP',
    ]);
    expect(renderPolicy('outside', { default: 'drop' }, { ...res, nflog: true }).v6).toEqual(['-A TSC-FW-OI -m comment --comment "tsc:p:outside:v" -j DROP']);
    expect(renderPolicy('app', { default: 'accept' }, res)).toEqual({ v4: [], v6: [], unresolved: [] });
  });

  it("replaces one resource's lines, keeps the others with their counters, never declares Docker's chains, adds the jump once", () => {
    const saved = parseSave(
      [
        '*filter',
        ':FORWARD ACCEPT [0:0]',
        ':DOCKER-USER - [0:0]',
        ':TSC-FW - [0:0]',
        ':TSC-FW-II - [0:0]',
        '[1:2] -A DOCKER-USER -s 10.9.9.9/32 -j DROP',
        '[0:0] -A DOCKER-USER -j RETURN',
        '[7:700] -A TSC-FW-II -s 172.18.0.2/32 -m comment --comment "tsc:r:00100:a:v" -j RETURN',
        '[3:300] -A TSC-FW-II -s 172.18.0.9/32 -m comment --comment "tsc:r:01000:b:v" -j DROP',
        'COMMIT',
        '',
      ].join('\n'),
      'v4',
    );
    expect(saved.hooked).toBe(false);
    const text = restoreText(
      saved,
      'tsc:r:01000:b',
      (g) => g.endsWith(':b'),
      ['-A TSC-FW-II -s 172.18.0.8/32 -m comment --comment "tsc:r:01000:b:v" -j DROP'],
      'v4',
      ['br-aaaa'],
    )!;
    expect(text).toContain('[7:700] -A TSC-FW-II -s 172.18.0.2/32 -m comment --comment "tsc:r:00100:a:v" -j RETURN\n[0:0] -A TSC-FW-II -s 172.18.0.8/32');
    expect(text).not.toContain('172.18.0.9');
    expect(text).not.toMatch(/^:(DOCKER-USER|FORWARD)/m);
    expect(text).toContain('-I DOCKER-USER 1 -j TSC-FW\nCOMMIT');
    for (const l of baseLines('v4', ['br-aaaa'])) expect(text).toContain(l);
  });

  it('warns when a drop cuts a published port no accept rule covers', () => {
    const host = {
      resolution: res,
      containers: [
        { Names: ['/web'], State: 'running', Ports: [{ PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }], NetworkSettings: { Networks: { app: {} } } },
      ],
    };
    const rule = (ports: number[]) => [
      { kind: 'firewall.rule', name: 'r', id: 'firewall.rule[r]', attrs: { from: 'outside' as const, to: { container: 'web' }, ports } },
    ];
    expect(cutPorts('outside', host, [])).toEqual(['8080/tcp of container web (-> 80)']);
    expect(cutPorts('outside', host, rule([8080]) as never)).toEqual([]);
    expect(cutPorts('outside', host, rule([80]) as never)).toEqual(['8080/tcp of container web (-> 80)']);
  });
});
