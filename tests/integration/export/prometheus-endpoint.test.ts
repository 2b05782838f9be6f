import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RequestEnergyRecord } from '../../../src/attribution/types.js';
import { configSchema } from '../../../src/config/schema.js';
import { startOtlpExport } from '../../../src/export/index.js';
import { OtlpMetrics } from '../../../src/export/otlp-metrics.js';
import { PrometheusEndpoint } from '../../../src/export/prometheus.js';
import { buildOtlpResource } from '../../../src/export/resource.js';
import { buildFactorSnapshot, recordActiveImpact } from '../../../src/factors/index.js';
import type { Meter } from '../../../src/meter/meter.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';
import { meteredGpus, requestRecord as record } from './export-fixtures.js';
import { samples, types } from './prometheus-text.js';

const settings = (listen = '127.0.0.1:0', path = '/metrics') => ({ listen, path });
const otlpDefaults = configSchema.parse({}).otlp;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** The endpoint on a free loopback port, with a scrape-only provider over `meter`. */
async function servedMetrics(meter: Meter) {
  const endpoint = new PrometheusEndpoint(settings());
  const metrics = new OtlpMetrics({
    meter,
    resource: buildOtlpResource({ serviceVersion: '9.9.9', host: { hostId: 'host-1', hostname: 'gpu-7' } }),
    settings: { ...otlpDefaults, genAiProviderName: 'vllm' },
    pushOtlp: false,
    readers: [endpoint.reader],
  });
  const url = await endpoint.start();
  cleanups.push(async () => {
    await endpoint.close();
    await metrics.shutdown();
  });
  return { endpoint, metrics, url };
}

describe('the Prometheus endpoint', () => {
  it('serves hw.energy and hw.power with unit suffixes and the meter’s numbers', async () => {
    const { meter, devices } = await meteredGpus(12);
    const { url } = await servedMetrics(meter);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    expect(types(text).get('hw_energy_joules_total')).toBe('counter');
    expect(types(text).get('hw_power_watts')).toBe('gauge');
    expect(text).toContain('# HELP hw_energy_joules_total Energy consumed by the component.');
    const status = meter.status();
    for (const [index, device] of devices.entries()) {
      const of = (name: string) => samples(text).find((s) => s.name === name && s.labels.hw_id === device.id);
      const micro = status[index]?.energyMicroJoules ?? 0n;
      expect(micro).toBeGreaterThan(0n);
      const energy = of('hw_energy_joules_total');
      expect(energy?.labels).toEqual({
        hw_id: device.id,
        hw_type: 'gpu',
        hw_name: 'Simulated NVIDIA H100 80GB HBM3',
        hw_model: 'Simulated NVIDIA H100 80GB HBM3',
        hw_vendor: 'NVIDIA (simulated)',
        hw_driver_version: 'simulated',
        wattledger_simulated: 'true',
      });
      expect(Math.round((energy?.value ?? 0) * 1e6)).toBe(Number(micro));
      expect(of('hw_power_watts')?.value).toBe((status[index]?.powerMilliWatts ?? Number.NaN) / 1000);
    }
    const target = samples(text).find((s) => s.name === 'target_info');
    expect(target?.labels).toMatchObject({
      service_name: 'wattledger',
      host_id: 'host-1',
      host_name: 'gpu-7',
    });
    // No scope labels: the same series as Prometheus' own OTLP translation.
    expect(text).not.toContain('otel_scope_name');
  });

  it('serves the request histograms: energy, CO2e per basis and water, no request ids', async () => {
    const { meter, devices } = await meteredGpus(2);
    const ids = devices.map((d) => d.id);
    const factors = buildFactorSnapshot(
      configSchema.parse({
        factors: {
          zone: 'DE',
          gridIntensityMilligramsPerKilowattHour: 380_000,
          gridIntensityNote: 'test figure',
          pueMilli: 1200,
          market: { gridIntensityMilligramsPerKilowattHour: 20_000, instrument: 'PPA', note: 'test' },
          wueMillilitersPerKilowattHour: 500,
          wueSource: 'test',
          ewifMillilitersPerKilowattHour: 3100,
          ewifSource: 'test',
        },
      }).factors,
    );
    const withImpact = (r: RequestEnergyRecord) => ({ ...r, activeImpact: recordActiveImpact(r, factors) });
    const a = withImpact(record(ids));
    const b = withImpact(record(ids, { requestId: 'req-2', activeEnergyMicroJoules: '3600000000' }));
    // The energy of `b` is 1 Wh: CO2e location = 1 Wh × 380 g/kWh = 0.38 g (the active boundary has no PUE).
    expect(b.activeImpact.co2eLocationMicrograms).toBe('380000');
    const { metrics, url } = await servedMetrics(meter);
    metrics.recordRequest(a);
    metrics.recordRequest(b);
    // A record without factors applied: energy only; its CO2e and water are unknown, not 0.
    metrics.recordRequest(record(ids, { requestId: 'req-3', activeEnergyMicroJoules: '1000000' }));
    const text = await (await fetch(url)).text();
    const all = samples(text);
    const one = (name: string, labels: Record<string, string> = {}) => {
      const found = all.filter(
        (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
      );
      expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
      return found[0] as (typeof found)[number];
    };
    expect(types(text).get('wattledger_request_energy_joules')).toBe('histogram');
    expect(types(text).get('wattledger_request_co2e_grams')).toBe('histogram');
    expect(types(text).get('wattledger_request_water_L')).toBe('histogram');

    expect(one('wattledger_request_energy_joules_count').value).toBe(3);
    expect(one('wattledger_request_energy_joules_sum').value).toBeCloseTo(123.456789 + 3600 + 1, 9);
    const sumOf = (field: 'co2eLocationMicrograms' | 'co2eMarketMicrograms' | 'waterMicroliters') =>
      [a, b].reduce((total, r) => total + Number(r.activeImpact[field]) / 1e6, 0);
    const location = { wattledger_co2e_basis: 'location' };
    expect(one('wattledger_request_co2e_grams_count', location).value).toBe(2);
    expect(one('wattledger_request_co2e_grams_sum', location).value).toBeCloseTo(
      sumOf('co2eLocationMicrograms'),
      12,
    );
    const market = { wattledger_co2e_basis: 'market' };
    expect(one('wattledger_request_co2e_grams_count', market).value).toBe(2);
    expect(one('wattledger_request_co2e_grams_sum', market).value).toBeCloseTo(
      sumOf('co2eMarketMicrograms'),
      12,
    );
    expect(one('wattledger_request_water_L_count').value).toBe(2);
    expect(one('wattledger_request_water_L_sum').value).toBeCloseTo(sumOf('waterMicroliters'), 12);
    expect(one('wattledger_request_water_L_sum').labels).toEqual({
      gen_ai_operation_name: 'chat',
      gen_ai_provider_name: 'vllm',
      gen_ai_request_model: 'llama-3.1-8b',
      wattledger_engine_id: 'sim-engine',
      hw_type: 'gpu',
      wattledger_simulated: 'true',
      wattledger_energy_boundary: 'active',
    });
    // Cumulative buckets end in +Inf with the count.
    const buckets = all.filter(
      (s) =>
        s.name === 'wattledger_request_co2e_grams_bucket' && s.labels.wattledger_co2e_basis === 'location',
    );
    expect(buckets.at(-1)).toMatchObject({ value: 2, labels: { le: '+Inf' } });
    expect(one('gen_ai_server_request_duration_seconds_count').value).toBe(3);
    expect(text).not.toContain('req-secret-0001');
    expect(text).not.toContain('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('answers 404 off its path and 405 to other methods', async () => {
    const { meter } = await meteredGpus(1);
    const { url } = await servedMetrics(meter);
    const base = url.replace(/\/metrics$/, '');
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metricsx`)).status).toBe(404);
    expect((await fetch(`${url}?x=1`)).status).toBe(200);
    const post = await fetch(url, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('fails with EXPORT_LISTEN_FAILED naming EADDRINUSE when the port is taken', async () => {
    const taken: Server = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    cleanups.push(() => new Promise((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as { port: number }).port;
    const endpoint = new PrometheusEndpoint(settings(`127.0.0.1:${port}`));
    await expect(endpoint.start()).rejects.toMatchObject({
      code: 'EXPORT_LISTEN_FAILED',
      message: `the Prometheus endpoint cannot listen on 127.0.0.1:${port}: EADDRINUSE`,
    });
  });

  it('closes promptly with a scraper’s keep-alive connection open', async () => {
    const { meter } = await meteredGpus(1);
    const endpoint = new PrometheusEndpoint(settings('127.0.0.1:0', '/custom/path'));
    const metrics = new OtlpMetrics({
      meter,
      resource: buildOtlpResource({ serviceVersion: '9.9.9' }),
      settings: otlpDefaults,
      pushOtlp: false,
      readers: [endpoint.reader],
    });
    cleanups.push(() => metrics.shutdown());
    const url = await endpoint.start();
    expect(url).toMatch(/\/custom\/path$/);
    // A kept-alive connection, as Prometheus keeps between scrapes.
    const agentResponse = await new Promise<number>((resolve, reject) => {
      httpRequest(url, { headers: { connection: 'keep-alive' } }, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      })
        .on('error', reject)
        .end();
    });
    expect(agentResponse).toBe(200);
    const started = Date.now();
    await endpoint.close();
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(fetch(url)).rejects.toThrow();
  });
});

describe('startOtlpExport with Prometheus', () => {
  it('serves Prometheus with OTLP disabled, and stops it on stop', async () => {
    for (const name of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_SDK_DISABLED']) vi.stubEnv(name, '');
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const config = configSchema.parse({
      ledger: { dir },
      otlp: { enabled: false },
      prometheus: { enabled: true, listen: '127.0.0.1:0' },
    });
    const { meter } = await meteredGpus(2);
    const exported = await startOtlpExport({ config, meter });
    expect(exported?.logs).toBeNull();
    expect(exported?.metrics).not.toBeNull();
    const url = exported?.prometheusUrl as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const text = await (await fetch(url)).text();
    expect(samples(text).filter((s) => s.name === 'hw_energy_joules_total')).toHaveLength(2);
    await exported?.stop();
    await expect(fetch(url)).rejects.toThrow();
  });

  it('is off when neither OTLP nor Prometheus is enabled', async () => {
    const config = configSchema.parse({});
    expect(await startOtlpExport({ config, meter: (await meteredGpus(1)).meter })).toBeNull();
  });
});
