import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importCompose } from './compose.js';

const FIX = fileURLToPath(new URL('../../test/fixtures/compose/', import.meta.url));
const f = (dir: string, ...files: string[]): string[] => (files.length ? files : ['docker-compose.yml']).map((x) => path.join(FIX, dir, x));
const byName = (rs: readonly Record<string, unknown>[], name: string): Record<string, unknown> => rs.find((r) => r.name === name)!;

describe('importCompose', () => {
  it('merges several files in order, the way Compose does', async () => {
    const r = await importCompose(f('multi-file', 'docker-compose.yml', 'docker-compose.override.yml'), { projectName: 'p', env: {} });
    expect(byName(r.resources, 'p_web_1')).toMatchObject({
      image: 'local/busybox:2',
      environment: { MODE: 'development', WORKERS: '4', DEBUG: '1' },
      labels: { app: 'shop', env: 'dev' },
      ports: ['127.0.0.1:18253:80', '127.0.0.1:18254:81'],
      mounts: [
        { type: 'volume', source: 'p_static', target: '/www/static' },
        { type: 'volume', source: 'p_uploads', target: '/www/uploads' },
      ],
      networks: [{ name: 'p_default', aliases: ['web'] }],
      adopt: true,
    });
    expect(r.resources.map((x) => `${String(x.kind)}[${String(x.name)}]`)).toEqual([
      'docker.network[p_default]',
      'docker.volume[p_static]',
      'docker.volume[p_uploads]',
      'docker.container[p_web_1]',
    ]);
  });

  it('interpolates from .env, with the given environment winning', async () => {
    const r = await importCompose(f('dotenv'), { projectName: 'p', env: { APP_PORT: '18299', MODE: '' } });
    expect(byName(r.resources, 'p_app_1')).toMatchObject({
      image: 'local/busybox:2',
      command: ['sh', '-c', 'echo $HOME; sleep 100000'],
      ports: ['127.0.0.1:18299:80'],
      environment: { GREETING: 'hello from .env', LEVEL: 'info', MODE: '', REQUIRED: '2' },
    });
  });

  it('honours profiles, from the option and from COMPOSE_PROFILES', async () => {
    const names = async (o: object): Promise<string[]> =>
      (await importCompose(f('profiles'), { projectName: 'p', env: {}, ...o })).resources
        .filter((x) => x.kind === 'docker.container')
        .map((x) => String(x.name));
    expect(await names({})).toEqual(['p_app_1']);
    expect(await names({ profiles: ['monitoring'] })).toEqual(['p_app_1', 'p_metrics_1']);
    expect(await names({ env: { COMPOSE_PROFILES: 'debug' } })).toEqual(['p_app_1', 'p_debug_1', 'p_metrics_1']);
  });

  it('mounts secrets and configs as read-only files; a config is also a file resource', async () => {
    const r = await importCompose(f('secrets-configs'), { projectName: 'p', env: {}, containerNames: 'v2' });
    expect(byName(r.resources, 'p-app-1').mounts).toEqual([
      { type: 'bind', source: path.join(FIX, 'secrets-configs/db_password.txt'), target: '/run/secrets/db_password', readOnly: true },
      { type: 'bind', source: path.join(FIX, 'secrets-configs/db_password.txt'), target: '/run/secrets/api.key', readOnly: true },
    ]);
    expect(byName(r.resources, 'p-proxy-1').mounts).toEqual([
      { type: 'bind', source: path.join(FIX, 'secrets-configs/conf/nginx.conf'), target: '/etc/nginx/nginx.conf', readOnly: true },
    ]);
    expect(byName(r.resources, path.join(FIX, 'secrets-configs/conf/nginx.conf'))).toEqual({
      kind: 'file',
      name: path.join(FIX, 'secrets-configs/conf/nginx.conf'),
      content: 'worker_processes 1;\n',
    });
    expect(JSON.stringify(r.resources)).not.toContain('db-password'); // a secret's content never enters the manifest
  });

  it('reads env files, with environment overriding them and unset values taken from the shell', async () => {
    const r = await importCompose(f('env-file'), { projectName: 'p', env: { FROM_SHELL: 'shell' } });
    expect(byName(r.resources, 'p_app_1').environment).toEqual({
      APP_NAME: 'shop-override',
      APP_SECRET_KEY: 'not-a-real-secret',
      QUOTED: 'a b',
      FROM_SHELL: 'shell',
    });
  });

  it('turns depends_on into require, networks into declared networks with aliases', async () => {
    const r = await importCompose(f('reverse-proxy'), { projectName: 'p', env: {} });
    expect(byName(r.resources, 'p_worker_1').networks).toEqual([
      { name: 'p_backend', aliases: ['worker'] },
      { name: 'p_jobs', aliases: ['worker', 'worker.jobs'] },
    ]);
    expect(byName(r.resources, 'p_backend')).toEqual({
      kind: 'docker.network',
      name: 'p_backend',
      driver: 'bridge',
      internal: true,
      attachable: true,
      adopt: true,
    });
    expect(byName(r.resources, 'p_jobs')).toMatchObject({ options: { 'com.docker.network.driver.mtu': '1400' } });
    const h = await importCompose(f('healthcheck-depends'), { projectName: 'p', env: {}, adopt: false });
    expect(byName(h.resources, 'p_app_1')).toMatchObject({ require: ['docker.container[p_db_1]', 'docker.container[p_cache_1]'] });
    expect(byName(h.resources, 'p_db_1').healthcheck).toEqual({
      test: ['CMD-SHELL', 'test -d /'],
      interval: '1s',
      timeout: '2s',
      startPeriod: '1s',
      retries: 3,
    });
    expect(JSON.stringify(h.resources)).not.toContain('adopt');
  });
});
