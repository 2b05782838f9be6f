/**
 * The Prometheus scrape endpoint: the OpenTelemetry `PrometheusExporter` as one more reader on the
 * metrics' `MeterProvider` (so a scrape sees exactly the instruments OTLP exports), served by our
 * own loopback HTTP server rather than the exporter's, for a listen address parsed like the
 * daemon's other listeners, a stable error when the port is taken, bounded requests and a close
 * that does not wait for Prometheus' keep-alive connections. Names carry their unit suffixes
 * ({@link prometheusMetricName}).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { DataPointType, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { httpUrl, parseListenAddress } from '../api/listen.js';
import type { Config } from '../config/schema.js';
import { ExportError } from './errors.js';
import { type PrometheusKind, prometheusMetricName } from './prometheus-names.js';

/** The text exposition format Prometheus 2.x parses. */
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** Concurrent scrapers are few (one or two Prometheus servers); more connections are refused. */
const MAX_CONNECTIONS = 32;
const REQUEST_TIMEOUT_MS = 10_000;

/** The `prometheus` configuration the endpoint reads. */
export type PrometheusSettings = Pick<Config['prometheus'], 'listen' | 'path'>;

/** The scrape endpoint; register {@link reader} with the provider, then {@link start}. */
export class PrometheusEndpoint {
  /** The metric reader to pass to the `MeterProvider`: collects on each scrape, cumulative. */
  readonly reader: PrometheusExporter;
  private readonly settings: PrometheusSettings;
  private readonly serializer = new PrometheusSerializer('', false, undefined, false, true);
  private server: Server | null = null;

  constructor(settings: PrometheusSettings) {
    this.settings = settings;
    // Our server serves it; scope labels (`otel_scope_name`) are left out, as Prometheus' OTLP
    // translation leaves them out by default, so both ways give the same series.
    this.reader = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  }

  /**
   * Listens on `listen` and resolves with the scrape URL. Throws `EXPORT_LISTEN_FAILED` (with
   * the errno code, e.g. `EADDRINUSE`) when it cannot.
   */
  async start(): Promise<string> {
    const { host, port } = parseListenAddress(this.settings.listen);
    const server = createServer((request, response) => this.handle(request, response));
    server.maxConnections = MAX_CONNECTIONS;
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    server.headersTimeout = REQUEST_TIMEOUT_MS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new ExportError(
        'EXPORT_LISTEN_FAILED',
        `the Prometheus endpoint cannot listen on ${this.settings.listen}: ${code}`,
        {
          cause: error,
          hint: 'choose another address with --prometheus <host:port> (config prometheus.listen); it must differ from api.listen and events.listen',
        },
      );
    });
    this.server = server;
    return this.url();
  }

  /** `http://host:port/path` of the running endpoint (the port the system chose, for port 0). */
  url(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('the Prometheus endpoint is not listening');
    return `${httpUrl(address.address, address.port)}${this.settings.path}`;
  }

  /** The exposition text of one scrape. */
  async render(): Promise<string> {
    const { resourceMetrics } = await this.reader.collect();
    return this.serializer.serialize(withPrometheusNames(resourceMetrics));
  }

  /** Stops listening and drops open connections; the reader stops with its provider. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '').split('?', 1)[0];
    if (path !== this.settings.path) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response
        .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' })
        .end('method not allowed\n');
      return;
    }
    this.render().then(
      (text) => {
        response.writeHead(200, { 'content-type': CONTENT_TYPE });
        response.end(request.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        response
          .writeHead(500, { 'content-type': 'text/plain' })
          .end(`collection failed: ${String(error)}\n`);
      },
    );
  }
}

/** A copy of `resourceMetrics` whose metric names are the Prometheus names with unit suffixes. */
function withPrometheusNames(resourceMetrics: ResourceMetrics): ResourceMetrics {
  return {
    ...resourceMetrics,
    scopeMetrics: resourceMetrics.scopeMetrics.map((scope) => ({
      ...scope,
      metrics: scope.metrics.map((metric) => renamed(metric)),
    })),
  };
}

function renamed(metric: MetricData): MetricData {
  const { name, unit } = metric.descriptor;
  return {
    ...metric,
    descriptor: { ...metric.descriptor, name: prometheusMetricName(name, unit, kindOf(metric)) },
  } as MetricData;
}

function kindOf(metric: MetricData): PrometheusKind {
  switch (metric.dataPointType) {
    case DataPointType.SUM:
      return metric.isMonotonic ? 'counter' : 'gauge';
    case DataPointType.GAUGE:
      return 'gauge';
    default:
      return 'histogram';
  }
}
