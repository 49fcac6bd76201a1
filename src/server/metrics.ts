/** Prometheus metrics of the catalogue server (prom-client, its own registry). */
import client from 'prom-client';

export interface ServerMetrics {
  readonly registry: client.Registry;
  readonly requests: client.Counter<'route' | 'method' | 'code'>;
  readonly requestSeconds: client.Histogram<'route'>;
  readonly compileSeconds: client.Histogram;
  readonly cataloguesCompiled: client.Counter;
  readonly catalogueAnswers: client.Counter<'result'>;
  readonly reportsStored: client.Counter;
  readonly codeReloads: client.Counter<'result'>;
}

export function createMetrics(): ServerMetrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'tsconverge_server_' });
  const answers = new client.Counter({
    name: 'tsconverge_catalogue_answers_total',
    help: 'Catalogue answers by result (200 full body, 304 not modified, error)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  new client.Gauge({
    name: 'tsconverge_catalogue_not_modified_ratio',
    help: 'Share of catalogue answers that were 304 Not Modified',
    registers: [registry],
    async collect() {
      const v = (await answers.get()).values;
      const total = v.reduce((s, x) => s + x.value, 0);
      this.set(total === 0 ? 0 : (v.find((x) => x.labels.result === '304')?.value ?? 0) / total);
    },
  });
  return {
    registry,
    requests: new client.Counter({
      name: 'tsconverge_http_requests_total',
      help: 'HTTP requests by route, method and status code',
      labelNames: ['route', 'method', 'code'] as const,
      registers: [registry],
    }),
    requestSeconds: new client.Histogram({
      name: 'tsconverge_http_request_duration_seconds',
      help: 'HTTP request duration by route',
      labelNames: ['route'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    compileSeconds: new client.Histogram({
      name: 'tsconverge_catalogue_compile_duration_seconds',
      help: 'Time to compile one node catalogue',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers: [registry],
    }),
    cataloguesCompiled: new client.Counter({ name: 'tsconverge_catalogues_compiled_total', help: 'Node catalogues compiled', registers: [registry] }),
    catalogueAnswers: answers,
    reportsStored: new client.Counter({ name: 'tsconverge_reports_stored_total', help: 'Agent run reports stored', registers: [registry] }),
    codeReloads: new client.Counter({
      name: 'tsconverge_code_reloads_total',
      help: 'Fleet tree reloads by result (ok, failed: the last good code stays)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
  };
}
