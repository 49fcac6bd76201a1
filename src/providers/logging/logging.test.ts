import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { configErrors, parseRotate, renderRotate, rotateView, splitPaths, type RotateSettings } from './logrotate.js';
import { createLogrotateProvider, type RotateAttrs } from './rotate.js';
import { createForwardProvider, forwardView, renderForward, type ForwardAttrs } from './forward.js';
import { checkDropInName } from './owned.js';
import { converge, planOf, resource, tempRoot, testContext } from '../hostio.testkit.js';

describe('logrotate rules', () => {
  it.each([
    ['/var/log/a.log /var/log/b/*.log', ['/var/log/a.log', '/var/log/b/*.log']],
    ['"/var/log/with space.log" /x', ['/var/log/with space.log', '/x']],
    ["'/q.log'", ['/q.log']],
  ])('splits %s', (text, expected) => {
    expect(splitPaths(text)).toEqual(expected);
  });

  it.each<[string, RotateSettings, string[]]>([
    ['defaults only', { paths: ['/var/log/app.log'] }, ['missingok', 'notifempty']],
    ['explicit negatives', { paths: ['/a'], compress: false, notifempty: false, missingok: false }, ['nocompress', 'nomissingok', 'ifempty']],
    [
      'valued and frequency',
      { paths: ['/a'], frequency: 'daily', rotate: 7, size: '100M', create: '0640 root adm' },
      ['daily', 'rotate 7', 'size 100M', 'create 0640 root adm', 'missingok', 'notifempty'],
    ],
    [
      'scripts',
      { paths: ['/a'], sharedscripts: true, postrotate: 'kill -HUP $(cat /run/app.pid)\ntrue\n' },
      ['missingok', 'notifempty', 'sharedscripts', 'postrotate', 'kill -HUP $(cat /run/app.pid)', 'true', 'endscript'],
    ],
  ])('renders %s', (_n, s, directives) => {
    const text = renderRotate(s, 'logging.rotate[app]');
    const body = text
      .split('\n')
      .slice(2, -2)
      .map((l) => l.trim());
    expect(body).toEqual(directives);
    expect(text.split('\n')[1]).toBe(`${s.paths.join(' ')} {`);
  });

  it('parses what it renders', () => {
    const s: RotateSettings = {
      paths: ['/var/log/b.log', '/var/log/a b.log'],
      frequency: 'weekly',
      rotate: 4,
      compress: true,
      delaycompress: true,
      dateext: true,
      su: 'root adm',
      prerotate: 'echo pre',
      extraLines: ['olddir /var/log/old'],
    };
    const rule = parseRotate(renderRotate(s, 'x'));
    expect(rule).toMatchObject({
      paths: ['/var/log/b.log', '/var/log/a b.log'],
      frequency: 'weekly',
      rotate: '4',
      compress: true,
      delaycompress: true,
      dateext: true,
      missingok: true,
      notifempty: true,
      copytruncate: null,
      su: 'root adm',
      prerotate: 'echo pre',
      postrotate: null,
      extraLines: ['olddir /var/log/old'],
    });
  });

  it('a directive added by hand shows in the view', () => {
    const text = renderRotate({ paths: ['/a'] }, 'x');
    const edited = text.replace('    missingok', '    missingok\n    compress\n    mail root@example');
    expect(rotateView(edited)).toMatchObject({ compress: true, extraLines: ['mail root@example'] });
    expect(rotateView(text)).not.toHaveProperty('compress');
    expect(rotateView(text)).not.toHaveProperty('extraLines');
    expect(rotateView(text.replace('    missingok\n', ''))).not.toHaveProperty('missingok');
  });

  it.each([
    ["error: lr2:2 unknown option 'dailyy' -- ignoring line", 1],
    ['error: stat of /var/log/x.log failed: No such file or directory', 0],
    ["error: lr3:2 bad rotation count 'abc'\nerror: found error in /var/log/x.log , skipping", 2],
  ])('config errors in %j: %i', (out, n) => {
    expect(configErrors(out)).toHaveLength(n);
  });
});

describe('rsyslog forwarding rule', () => {
  it.each<[string, ForwardAttrs, string]>([
    ['defaults', { target: 'logs.example' }, '*.* action(type="omfwd" target="logs.example" port="514" protocol="tcp")'],
    [
      'udp, selector, template, parameters sorted',
      {
        target: '10.0.0.9',
        port: 5514,
        protocol: 'udp',
        selector: 'auth,authpriv.*',
        template: 'RSYSLOG_SyslogProtocol23Format',
        parameters: { 'queue.type': 'LinkedList', 'action.resumeRetryCount': '-1' },
      },
      'auth,authpriv.* action(type="omfwd" target="10.0.0.9" port="5514" protocol="udp" template="RSYSLOG_SyslogProtocol23Format" action.resumeRetryCount="-1" queue.type="LinkedList")',
    ],
  ])('renders %s', (_n, attrs, line) => {
    const text = renderForward(attrs, 'logging.forward[central]');
    expect(text.split('\n')[1]).toBe(line);
    expect(forwardView(text)).toMatchObject({ target: attrs.target, port: attrs.port ?? 514 });
    expect(forwardView(text)).not.toHaveProperty('extraLines');
    expect(forwardView(text.replace('type="omfwd"', 'type="omrelp"'))).toMatchObject({ parameters: { type: 'omrelp' } });
  });

  it('a hand edit shows as the attribute it changes', () => {
    const text = renderForward({ target: 'logs.example' }, 'x');
    expect(forwardView(text.replace('port="514"', 'port="600"'))).toMatchObject({ port: 600 });
    expect(forwardView(text + '*.* /var/log/all.log\n')).toMatchObject({ extraLines: ['*.* /var/log/all.log'] });
  });

  it.each([
    ['app', true],
    ['app.v2_x-y', true],
    ['../etc/passwd', false],
    ['.hidden', false],
    ['a/b', false],
  ])('drop-in name %s ok: %s', (name, ok) => {
    if (ok) expect(checkDropInName(name, 'x')).toBe(name);
    else expect(() => checkDropInName(name, 'x')).toThrow(/cannot be used as a file name/);
  });
});

describe('logging providers against a temp root and the real checkers', () => {
  let cleanup = (): void => undefined;
  afterEach(() => cleanup());

  it('logging.rotate: logrotate accepts the rule; a rejected rule keeps the old bytes', async () => {
    const t = tempRoot('logrotate');
    cleanup = t.cleanup;
    const ctx = testContext(t.root);
    const p = createLogrotateProvider();
    expect(await p.suitable(ctx)).toBeUndefined();
    const r = resource<RotateAttrs>('logging.rotate', 'app', {
      paths: ['/var/log/tsconverge-test-nonexistent/*.log'],
      frequency: 'daily',
      rotate: 7,
      compress: true,
    });
    expect((await converge(p, r, ctx)).action).toBe('create');
    const file = path.join(t.root, 'etc/logrotate.d/app');
    const good = readFileSync(file, 'utf8');
    expect(good).toContain('    daily\n    rotate 7\n');
    expect((await converge(p, r, ctx)).action).toBe('none');

    const mtime = statSync(file).mtimeMs;
    const bad = resource<RotateAttrs>('logging.rotate', 'app', { ...r.attrs, extraLines: ['rotatee 3'] });
    await expect(converge(p, bad, ctx)).rejects.toMatchObject({
      code: 'CONFIG_REJECTED',
      message: expect.stringMatching(/logrotate rejected.*rotatee.*left unchanged/),
    });
    expect(readFileSync(file, 'utf8')).toBe(good);
    expect(statSync(file).mtimeMs).toBe(mtime);
    expect(readdirSync(path.dirname(file))).toEqual(['app']);

    expect((await converge(p, resource<RotateAttrs>('logging.rotate', 'app', { ensure: 'absent' }), ctx)).action).toBe('delete');
    expect(existsSync(file)).toBe(false);
  });

  it('logging.forward: rsyslogd accepts the rule; a rejected parameter keeps the old bytes', async () => {
    const t = tempRoot('forward');
    cleanup = t.cleanup;
    const ctx = testContext(t.root);
    const p = createForwardProvider();
    expect(await p.suitable(ctx)).toBeUndefined();
    const r = resource<ForwardAttrs>('logging.forward', 'central', { target: '127.0.0.1', port: 6514 });
    expect((await converge(p, r, ctx)).action).toBe('create');
    const file = path.join(t.root, 'etc/rsyslog.d/90-tsconverge-central.conf');
    const good = readFileSync(file, 'utf8');
    expect((await converge(p, r, ctx)).action).toBe('none');
    writeFileSync(file, good.replace('6514', '514'));
    expect((await planOf(p, r, ctx)).plan.changes.map((c) => c.attribute)).toEqual(['port']);
    writeFileSync(file, good);
    const bad = resource<ForwardAttrs>('logging.forward', 'central', { ...r.attrs, parameters: { 'queue.typo': 'LinkedList' } });
    await expect(converge(p, bad, ctx)).rejects.toMatchObject({ code: 'CONFIG_REJECTED', message: expect.stringMatching(/rsyslogd rejected.*queue\.typo/) });
    expect(readFileSync(file, 'utf8')).toBe(good);
  });

  it('creates the drop-in directory when it is missing', async () => {
    const t = tempRoot('logrotate');
    cleanup = t.cleanup;
    mkdirSync(path.join(t.root, 'etc'));
    const ctx = testContext(t.root);
    await converge(createLogrotateProvider(), resource<RotateAttrs>('logging.rotate', 'x', { paths: ['/var/log/x.log'] }), ctx);
    expect(existsSync(path.join(t.root, 'etc/logrotate.d/x'))).toBe(true);
  });
});
