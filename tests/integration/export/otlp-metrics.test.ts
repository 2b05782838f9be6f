import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
import * as n from '../../../src/export/names.js';
import { OtlpMetrics } from '../../../src/export/otlp-metrics.js';
import { buildOtlpResource } from '../../../src/export/resource.js';
import { buildFactorSnapshot, recordActiveImpact, withComprehensive } from '../../../src/factors/index.js';
import { OtlpReceiver } from '../../helpers/otlp-receiver.js';
import { meteredGpus, requestRecord } from './export-fixtures.js';
import { type MetricPoint, metricPoints } from './otlp-views.js';

const OTEL_VARIABLES = [
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL',
  'OTEL_METRIC_EXPORT_INTERVAL',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_SERVICE_NAME',
  'KUBERNETES_SERVICE_HOST',
];

function settings(endpoint: string, protocol: 'http/protobuf' | 'http/json') {
  return { ...configSchema.parse({}).otlp, endpoint, protocol, metricsIntervalMs: 3_600_000 };
}

const byName = (points: MetricPoint[], name: string) => points.filter((p) => p.name === name);

let receiver: OtlpReceiver;
beforeEach(async () => {
  for (const name of OTEL_VARIABLES) vi.stubEnv(name, '');
  receiver = await OtlpReceiver.start();
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await receiver.close();
});

describe.each(['http/protobuf', 'http/json'] as const)('OTLP metrics over %s', (protocol) => {
  it('exports hw.energy and hw.power with the numbers the meter holds', async () => {
    const { meter, devices } = await meteredGpus(12);
    const resource = buildOtlpResource({
      serviceVersion: '9.9.9',
      host: { hostId: 'host-1', hostname: 'gpu-7' },
    });
    const metrics = new OtlpMetrics({ meter, resource, settings: settings(receiver.endpoint, protocol) });
    await metrics.shutdown();

    const [request] = receiver.requests;
    expect(request?.encoding).toBe(protocol === 'http/json' ? 'json' : 'protobuf');
    const points = metricPoints(receiver.accepted('metrics'));
    const status = meter.status();
    for (const [index, device] of devices.entries()) {
      const energy = byName(points, 'hw.energy').find((p) => p.attributes['hw.id'] === device.id);
      const micro = status[index]?.energyMicroJoules ?? 0n;
      expect(micro).toBeGreaterThan(0n);
      expect(energy).toMatchObject({ unit: 'J', kind: 'sum', monotonic: true, temporality: 2 });
      // µJ / 1e6, within the rounding of one double conversion.
      expect(energy?.value).toBeCloseTo(Number(micro) / 1e6, 9);
      expect(Math.round((energy?.value ?? 0) * 1e6)).toBe(Number(micro));
      expect(energy?.attributes).toEqual({
        'hw.id': device.id,
        'hw.type': 'gpu',
        'hw.name': 'Simulated NVIDIA H100 80GB HBM3',
        'hw.model': 'Simulated NVIDIA H100 80GB HBM3',
        'hw.vendor': 'NVIDIA (simulated)',
        'hw.driver_version': 'simulated',
        'wattledger.simulated': true,
      });
      const power = byName(points, 'hw.power').find((p) => p.attributes['hw.id'] === device.id);
      expect(power).toMatchObject({ unit: 'W', kind: 'gauge' });
      expect(power?.value).toBe((status[index]?.powerMilliWatts ?? Number.NaN) / 1000);
    }
    expect(byName(points, 'hw.gpu.utilization')).toEqual([]);
    expect(points[0]?.resource).toMatchObject({
      'service.name': 'wattledger',
      'service.version': '9.9.9',
      'host.name': 'gpu-7',
      'host.id': 'host-1',
    });
  });

  it('exports request energy and the gen_ai.server latency histograms with semconv buckets', async () => {
    const { meter, devices } = await meteredGpus(2);
    const ids = devices.map((d) => d.id);
    const resource = buildOtlpResource({ serviceVersion: '9.9.9' });
    const metrics = new OtlpMetrics({ meter, resource, settings: settings(receiver.endpoint, protocol) });
    metrics.recordRequest(requestRecord(ids));
    metrics.recordRequest(requestRecord(ids, { requestId: 'req-2', activeEnergyMicroJoules: '500000' }));
    metrics.recordRequest(
      requestRecord(ids, {
        requestId: 'req-3',
        outcome: 'error',
        httpStatus: 503,
        timeToFirstTokenNanos: null,
      }),
    );
    await metrics.shutdown();

    const points = metricPoints(receiver.accepted('metrics'));
    const okAttributes = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'unknown',
      'gen_ai.request.model': 'llama-3.1-8b',
    };
    const energy = byName(points, n.METRIC_REQUEST_ENERGY);
    const okEnergy = energy.find((p) => p.attributes['error.type'] === undefined);
    expect(okEnergy).toMatchObject({ unit: 'J', kind: 'histogram', count: 2 });
    expect(okEnergy?.sum).toBeCloseTo(123.456789 + 0.5, 9);
    expect(okEnergy?.attributes).toEqual({
      ...okAttributes,
      'wattledger.engine.id': 'sim-engine',
      'wattledger.energy.boundary': 'active',
      'hw.type': 'gpu',
      'wattledger.simulated': true,
    });
    expect(okEnergy?.explicitBounds).toEqual(n.BUCKETS_REQUEST_ENERGY_JOULES);

    const duration = byName(points, 'gen_ai.server.request.duration');
    expect(duration.map((p) => [p.attributes['error.type'] ?? null, p.count, p.sum]).sort()).toEqual(
      [
        [null, 2, 3],
        ['503', 1, 1.5],
      ].sort(),
    );
    expect(duration[0]).toMatchObject({ unit: 's', kind: 'histogram' });
    expect(duration[0]?.explicitBounds).toEqual(n.BUCKETS_REQUEST_DURATION_SECONDS);

    const ttft = byName(points, 'gen_ai.server.time_to_first_token');
    expect(ttft).toHaveLength(1);
    expect(ttft[0]).toMatchObject({ unit: 's', count: 2, attributes: okAttributes });
    expect(ttft[0]?.sum).toBeCloseTo(0.24, 12);
    expect(ttft[0]?.explicitBounds).toEqual(n.BUCKETS_TIME_TO_FIRST_TOKEN_SECONDS);

    // Low cardinality: no request or trace id anywhere in the metrics.
    const wire = JSON.stringify(receiver.accepted('metrics'));
    expect(wire).not.toContain('req-secret-0001');
    expect(wire).not.toContain('4bf92f3577b34da6a3ce929d0e0e4736');
  });
});

describe('OTLP request CO2e and water', () => {
  it('records each boundary’s CO2e (per basis) and water from the record, unknown figures left out', async () => {
    const { meter, devices } = await meteredGpus(2);
    const ids = devices.map((d) => d.id);
    const factors = buildFactorSnapshot(
      configSchema.parse({
        factors: {
          zone: 'DE',
          gridIntensityMilligramsPerKilowattHour: 380_000,
          gridIntensityNote: 'test figure',
          pueMilli: 1250,
          market: { gridIntensityMilligramsPerKilowattHour: 20_000, instrument: 'PPA', note: 'test' },
          wueMillilitersPerKilowattHour: 500,
          wueSource: 'test',
          ewifMillilitersPerKilowattHour: 3100,
          ewifSource: 'test',
        },
      }).factors,
    );
    const noWater = buildFactorSnapshot(configSchema.parse({ factors: { zone: 'DE' } }).factors);
    const first = requestRecord(ids, {
      activeEnergyMicroJoules: '7200000000',
      hostEnergyMicroJoules: '1000',
    });
    const a = {
      ...withComprehensive(first, factors, 360_000_000n),
      activeImpact: recordActiveImpact(first, factors),
    };
    const second = requestRecord(ids, { requestId: 'req-2', activeEnergyMicroJoules: '987654321' });
    const b = { ...second, activeImpact: recordActiveImpact(second, noWater) };
    const metrics = new OtlpMetrics({
      meter,
      resource: buildOtlpResource({ serviceVersion: '9.9.9' }),
      settings: settings(receiver.endpoint, 'http/json'),
    });
    metrics.recordRequest(a);
    metrics.recordRequest(b);
    await metrics.shutdown();

    const points = metricPoints(receiver.accepted('metrics'));
    const co2e = byName(points, n.METRIC_REQUEST_CO2E);
    const water = byName(points, n.METRIC_REQUEST_WATER);
    const find = (list: MetricPoint[], boundary: string, basis?: string) =>
      list.filter(
        (p) =>
          p.attributes['wattledger.energy.boundary'] === boundary &&
          p.attributes['wattledger.co2e.basis'] === basis,
      );
    const base = (micro: string | null | undefined) => Number(micro) / 1e6;
    // 2 Wh × 380 g/kWh = 0.76 g for the first request's active boundary (no PUE there).
    expect(a.activeImpact.co2eLocationMicrograms).toBe('760000');
    const [activeLocation] = find(co2e, 'active', 'location');
    expect(activeLocation).toMatchObject({ unit: 'g', kind: 'histogram', count: 2 });
    expect(activeLocation?.sum).toBeCloseTo(
      base(a.activeImpact.co2eLocationMicrograms) + base(b.activeImpact.co2eLocationMicrograms),
      12,
    );
    expect(activeLocation?.explicitBounds).toEqual(n.BUCKETS_REQUEST_CO2E_GRAMS);
    // The market figure only where configured: one request.
    const [activeMarket] = find(co2e, 'active', 'market');
    expect(activeMarket).toMatchObject({ count: 1 });
    expect(activeMarket?.sum).toBeCloseTo(base(a.activeImpact.co2eMarketMicrograms), 12);
    const [comprehensiveLocation] = find(co2e, 'comprehensive', 'location');
    expect(comprehensiveLocation).toMatchObject({ count: 1 });
    expect(comprehensiveLocation?.sum).toBeCloseTo(base(a.comprehensive.co2eLocationMicrograms), 12);
    expect(comprehensiveLocation?.sum).toBeGreaterThan(activeLocation?.sum ?? 0);
    // Water: off-site unknown for the second request, so only the first one's total.
    const [activeWater] = find(water, 'active');
    expect(activeWater).toMatchObject({ unit: 'L', kind: 'histogram', count: 1 });
    expect(activeWater?.sum).toBeCloseTo(base(a.activeImpact.waterMicroliters), 12);
    expect(activeWater?.explicitBounds).toEqual(n.BUCKETS_REQUEST_WATER_LITERS);
    const [comprehensiveWater] = find(water, 'comprehensive');
    expect(comprehensiveWater?.sum).toBeCloseTo(base(a.comprehensive.waterMicroliters), 12);
    expect(activeWater?.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'unknown',
      'gen_ai.request.model': 'llama-3.1-8b',
      'wattledger.engine.id': 'sim-engine',
      'wattledger.energy.boundary': 'active',
      'hw.type': 'gpu',
      'wattledger.simulated': true,
    });
    expect(JSON.stringify(receiver.accepted('metrics'))).not.toContain('req-secret-0001');
  });
});

describe('OTLP metrics configuration from the environment', () => {
  it('OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_PROTOCOL win over the configuration', async () => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', receiver.endpoint);
    vi.stubEnv('OTEL_EXPORTER_OTLP_PROTOCOL', 'http/json');
    vi.stubEnv('OTEL_RESOURCE_ATTRIBUTES', 'deployment.environment.name=staging,service.name=energy');
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '10.0.0.1');
    vi.stubEnv('NODE_NAME', 'node-a');
    vi.stubEnv('K8S_POD_NAME', 'wattledger-x7k2p');
    const { meter } = await meteredGpus(2);
    const resource = buildOtlpResource({ serviceVersion: '9.9.9' });
    // The configured endpoint is a closed port: only the variable can make this arrive.
    const metrics = new OtlpMetrics({
      meter,
      resource,
      settings: settings('http://127.0.0.1:9', 'http/protobuf'),
    });
    await metrics.shutdown();
    expect(receiver.requests.map((r) => [r.signal, r.encoding, r.status])).toEqual([
      ['metrics', 'json', 200],
    ]);
    expect(metricPoints(receiver.accepted('metrics'))[0]?.resource).toMatchObject({
      'service.name': 'energy',
      'deployment.environment.name': 'staging',
      'k8s.node.name': 'node-a',
      'k8s.pod.name': 'wattledger-x7k2p',
    });
  });

  it('refuses grpc rather than sending OTLP/HTTP to a gRPC port', async () => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc');
    const { meter } = await meteredGpus(1);
    const resource = buildOtlpResource({ serviceVersion: '9.9.9' });
    expect(
      () => new OtlpMetrics({ meter, resource, settings: settings(receiver.endpoint, 'http/json') }),
    ).toThrow(expect.objectContaining({ code: 'EXPORT_PROTOCOL_UNSUPPORTED' }));
  });
});
