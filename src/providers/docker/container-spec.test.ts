import { describe, expect, it } from 'vitest';
import { sizeAsDeclared, capKey, formatDuration, healthTest, parseDuration, parseSize, portKey, restartKey, splitWords, envMap } from './container-spec.js';

describe('container normalisation', () => {
  it.each([
    ['64m', 64 * 1024 ** 2],
    ['64MiB', 64 * 1024 ** 2],
    ['1g', 1024 ** 3],
    ['1.5k', 1536],
    [1048576, 1048576],
    ['512', 512],
  ])('parseSize(%j) = %d', (input, bytes) => expect(parseSize(input)).toBe(bytes));

  it.each([
    ['64Mi', 64 * 1024 ** 2, '64Mi'],
    ['64m', 32 * 1024 ** 2, '32m'],
    ['64Mi', 32 * 1024 ** 2, '32Mi'],
    ['1g', 1536 * 1024 ** 2, '1610612736 bytes'],
    [1048576, 2048, 2048],
    ['64m', 0, 'no limit'],
  ])('sizeAsDeclared(%j, %d) = %j', (declared, bytes, shown) => expect(sizeAsDeclared(declared, bytes)).toBe(shown));

  it.each([
    ['30s', '30s'],
    ['1m30s', '90s'],
    ['500ms', '500ms'],
    ['1h', '3600s'],
  ])('duration %s canonicalises to %s', (input, out) => expect(formatDuration(parseDuration(input))).toBe(out));

  it.each([
    ['80', '::80/tcp'],
    ['8080:80', ':8080:80/tcp'],
    ['127.0.0.1:8080:80/udp', '127.0.0.1:8080:80/udp'],
    ['127.0.0.1::80', '127.0.0.1::80/tcp'],
    [{ target: 80, published: 8080, hostIp: '127.0.0.1' }, '127.0.0.1:8080:80/tcp'],
  ])('portKey(%j) = %s', (input, key) => expect(portKey(input as never)).toBe(key));

  it.each([
    ['httpd -f -p 80', ['httpd', '-f', '-p', '80']],
    [`sh -c 'echo "a b"; exit 0'`, ['sh', '-c', 'echo "a b"; exit 0']],
    ['a\\ b "c d" \'\'', ['a b', 'c d', '']],
  ])('splitWords(%j)', (input, words) => expect(splitWords(input)).toEqual(words));

  it.each([
    ['net_admin', 'CAP_NET_ADMIN'],
    ['CAP_SYS_TIME', 'CAP_SYS_TIME'],
    ['all', 'ALL'],
  ])('capKey(%s) = %s', (c, k) => expect(capKey(c)).toBe(k));
  it.each([
    [undefined, 0, 'no'],
    ['', 0, 'no'],
    ['always', 0, 'always'],
    ['on-failure', 3, 'on-failure:3'],
  ])('restartKey(%j, %d)', (n, m, k) => expect(restartKey(n, m)).toBe(k));
  it.each([
    ['curl -f localhost', ['CMD-SHELL', 'curl -f localhost']],
    [['true'], ['CMD', 'true']],
    [['NONE'], ['NONE']],
  ])('healthTest(%j)', (t, out) => expect(healthTest(t as never)).toEqual(out));
  it('envMap accepts maps and KEY=value lists', () => {
    expect(envMap({ A: 1, B: true } as never)).toEqual({ A: '1', B: 'true' });
    expect(envMap(['A=1', 'B=x=y'])).toEqual({ A: '1', B: 'x=y' });
  });
});
