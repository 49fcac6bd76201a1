import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseChronyConf, renderChronyConf, sourceLine } from './chrony.js';
import { checkTimesyncd, parseTimesyncdConf, renderTimesyncdConf } from './timesyncd.js';
import { createNtpProvider, resolveChrony, type NtpAttrs } from './ntp.js';
import { findBinary } from '../hostio.js';
import { converge, planOf, resource, tempRoot, testContext } from '../hostio.testkit.js';

describe('chrony sources', () => {
  it.each([
    ['ntp1.example', true, 'ntp1.example iburst'],
    ['ntp1.example', false, 'ntp1.example'],
    [{ host: 'a.example', prefer: true }, true, 'a.example iburst prefer'],
    [{ host: 'a.example', iburst: false, options: ['maxpoll  10', 'iburst'] }, true, 'a.example maxpoll 10'],
    [{ host: 'a.example', options: ['nts'] }, false, 'a.example nts'],
  ])('%j (iburst %s) -> %s', (src, iburst, line) => {
    expect(sourceLine(src, iburst)).toBe(line);
  });
});

describe('chrony.conf', () => {
  it.each([
    [
      'comments and blanks',
      '# c\n! c\n; c\n% c\n\nserver a iburst\n',
      { servers: ['a iburst'], pools: [], makestep: null, allow: [], driftfile: null, rtcsync: false, extraLines: [] },
    ],
    [
      'everything modelled',
      'pool p.example iburst maxsources 4\nmakestep 1.0 3\nallow 10.0.0.0/8\nallow\ndriftfile /var/lib/chrony/chrony.drift\nrtcsync\n',
      {
        servers: [],
        pools: ['p.example iburst maxsources 4'],
        makestep: { threshold: 1, limit: 3 },
        allow: ['10.0.0.0/8', 'all'],
        driftfile: '/var/lib/chrony/chrony.drift',
        rtcsync: true,
        extraLines: [],
      },
    ],
    [
      'unknown directives are extra lines, whitespace collapsed',
      'keyfile   /etc/chrony/chrony.keys\nleapsectz right/UTC\n',
      {
        servers: [],
        pools: [],
        makestep: null,
        allow: [],
        driftfile: null,
        rtcsync: false,
        extraLines: ['keyfile /etc/chrony/chrony.keys', 'leapsectz right/UTC'],
      },
    ],
  ])('parses %s', (_n, text, expected) => {
    expect(parseChronyConf(text)).toEqual(expected);
  });

  it.each<[string, NtpAttrs]>([
    ['defaults', { servers: ['ntp1.example'] }],
    ['pools, allow, no makestep', { pools: ['2.debian.pool.ntp.org'], allow: ['10.0.0.0/8', 'all'], makestep: false, iburst: false }],
    ['extra lines', { servers: [{ host: 'a', prefer: true }], extraLines: ['leapsectz right/UTC', 'logdir  /var/log/chrony'], rtcsync: false }],
  ])('render then parse is the resolved form: %s', (_n, attrs) => {
    const settings = resolveChrony(attrs);
    expect(parseChronyConf(renderChronyConf(settings, 'ntp[time]'))).toEqual(settings);
  });
});

describe('timesyncd drop-in', () => {
  it.each([
    ['servers in order', '[Time]\nNTP=b.example a.example\n', { servers: ['b.example', 'a.example'], extraLines: [] }],
    ['empty NTP= resets', '[Time]\nNTP=a\nNTP=\nNTP=b\nPollIntervalMaxSec = 2048\n', { servers: ['b'], extraLines: ['PollIntervalMaxSec=2048'] }],
    ['other sections ignored', '[Other]\nNTP=x\n[Time]\nNTP=y\n', { servers: ['y'], extraLines: [] }],
  ])('parses %s', (_n, text, expected) => {
    expect(parseTimesyncdConf(text)).toEqual(expected);
  });

  it('renders what it parses', () => {
    const s = { servers: ['a', 'b'], extraLines: ['RootDistanceMaxSec=5'] };
    expect(parseTimesyncdConf(renderTimesyncdConf(s, 'ntp[t]'))).toEqual(s);
  });

  it.each([
    [{ servers: ['a b'], extraLines: [] }, /not valid/],
    [{ servers: ['a'], extraLines: ['nonsense'] }, /Key=value/],
  ])('refuses %j', (s, msg) => {
    expect(() => checkTimesyncd(s, 'ntp[t]')).toThrow(msg);
  });
});

describe('ntp provider against a temp root and the real chronyd', () => {
  let cleanup = (): void => undefined;
  afterEach(() => cleanup());

  it('chronyd is installed (scripts/setup.sh installs chrony)', async () => {
    expect(await findBinary('chronyd')).not.toBeNull();
  });

  it('writes a chrony.conf that chronyd accepts, then converges', async () => {
    const t = tempRoot('ntp');
    cleanup = t.cleanup;
    const ctx = testContext(t.root);
    const p = createNtpProvider();
    expect(await p.suitable(ctx)).toBeUndefined();
    const r = resource<NtpAttrs>('ntp', 'time', { servers: ['127.0.0.1'], pools: ['2.debian.pool.ntp.org'], allow: ['10.0.0.0/8'] });
    expect((await converge(p, r, ctx)).action).toBe('create');
    const file = path.join(t.root, 'etc/chrony/chrony.conf');
    expect(readFileSync(file, 'utf8')).toContain('server 127.0.0.1 iburst\npool 2.debian.pool.ntp.org iburst\nmakestep 1 3\nallow 10.0.0.0/8\n');
    expect((await converge(p, r, ctx)).action).toBe('none');

    // A hand edit is drift.
    writeFileSync(file, readFileSync(file, 'utf8').replace('allow 10.0.0.0/8', 'allow 0.0.0.0/0'));
    const { plan } = await planOf(p, r, ctx);
    expect(plan.changes.map((c) => [c.attribute, c.from, c.to])).toEqual([['allow', ['0.0.0.0/0'], ['10.0.0.0/8']]]);
  });

  it('a config chronyd rejects leaves the old file byte-identical', async () => {
    const t = tempRoot('ntp');
    cleanup = t.cleanup;
    const ctx = testContext(t.root);
    const p = createNtpProvider();
    const file = path.join(t.root, 'etc/chrony/chrony.conf');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, 'server old.example iburst\n');
    const before = statSync(file).mtimeMs;
    const r = resource<NtpAttrs>('ntp', 'time', { servers: ['127.0.0.1'], allow: ['not-a-subnet'] });
    await expect(converge(p, r, ctx)).rejects.toMatchObject({
      code: 'CONFIG_REJECTED',
      message: expect.stringMatching(/chronyd rejected.*allow.*not-a-subnet.*left unchanged/),
    });
    expect(readFileSync(file, 'utf8')).toBe('server old.example iburst\n');
    expect(statSync(file).mtimeMs).toBe(before);
    expect(readdirSync(path.dirname(file))).toEqual(['chrony.conf']);
  });

  it('a missing chronyd is a clear error and nothing is written', async () => {
    const t = tempRoot('ntp');
    cleanup = t.cleanup;
    const ctx = testContext(t.root);
    const r = resource<NtpAttrs>('ntp', 'time', { servers: ['127.0.0.1'], chronydPath: '/nonexistent/chronyd' });
    await expect(converge(createNtpProvider(), r, ctx)).rejects.toMatchObject({
      code: 'BINARY_NOT_FOUND',
      hint: expect.stringContaining('apt-get install chrony'),
    });
    expect(existsSync(path.join(t.root, 'etc/chrony'))).toBe(false);
  });

  it('timesyncd: writes the drop-in; chrony-only settings are refused', async () => {
    const t = tempRoot('ntp');
    cleanup = t.cleanup;
    const ctx = testContext(t.root);
    const p = createNtpProvider();
    const r = resource<NtpAttrs>('ntp', 'time', { provider: 'timesyncd', servers: ['a.example'], pools: ['pool.example'] });
    expect((await converge(p, r, ctx)).action).toBe('create');
    expect(readFileSync(path.join(t.root, 'etc/systemd/timesyncd.conf.d/90-tsconverge.conf'), 'utf8')).toContain('[Time]\nNTP=a.example pool.example\n');
    expect((await converge(p, r, ctx)).action).toBe('none');
    const bad = resource<NtpAttrs>('ntp', 'time', { provider: 'timesyncd', servers: ['a'], allow: ['10.0.0.0/8'] });
    expect(() => p.views(bad, null, ctx)).toThrow(/does not support allow/);
  });
});
