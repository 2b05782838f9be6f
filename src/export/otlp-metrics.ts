/**
 * OTLP metrics: device energy and power from the meter (semconv `hw.*`), GenAI server latency
 * (semconv `gen_ai.server.*`) and per-request energy (ours) from attribution records. One
 * `MeterProvider` with one periodic reader; nothing is registered globally, so the daemon's other
 * code and any user instrumentation keep their own providers.
 *
 * Cardinality stays bounded by devices, engines, models and operations: request ids and trace ids
 * never become metric attributes (they are in the signed records and the exported log records).
 */
import type { Attributes, Histogram, Meter as OtelMeter } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { RequestEnergyRecord } from '../attribution/types.js';
import type { Config } from '../config/schema.js';
import type { DeviceStatus } from '../meter/meter.js';
import type { DeviceInfo } from '../probes/types.js';
import { VERSION } from '../version.js';
import { joulesFromMicroJoules, ratioFromPercent, secondsFromNanos, wattsFromMilliWatts } from './edge.js';
import * as n from './names.js';
import { createMetricExporter, metricExportTiming } from './otlp-options.js';
import { genAiAttributes } from './request-attributes.js';

/** What the metrics read from the meter: `Meter.status()`, called at each collection. */
export interface MeterStatusSource {
  status(): readonly DeviceStatus[];
}

/** Options of {@link OtlpMetrics}. */
export interface OtlpMetricsOptions {
  readonly meter: MeterStatusSource;
  /** From `buildOtlpResource()`, shared with the logs exporter. */
  readonly resource: Resource;
  readonly settings: Pick<
    Config['otlp'],
    'endpoint' | 'protocol' | 'metricsIntervalMs' | 'genAiProviderName'
  >;
}

/** `hw.type` for our device classes; `null` for those that must not be exported as `hw.energy`. */
const HW_TYPE: Record<DeviceInfo['hwType'], string | null> = {
  gpu: 'gpu',
  cpu: 'cpu',
  dram: 'memory',
  // RAPL psys contains the packages and DRAM: exporting it as `hw.energy` would invite summing
  // overlapping values, and it is not the whole host either, so `hw.host.energy` would be wrong.
  platform: null,
};

/**
 * The metrics exporter. Starts exporting every `metricsIntervalMs` on construction; call
 * {@link recordRequest} for each finished request and {@link shutdown} on stop (it exports a last
 * time).
 */
export class OtlpMetrics {
  private readonly provider: MeterProvider;
  private readonly providerName: string;
  private readonly simulatedIds: ReadonlySet<string>;
  private readonly requestEnergy: Histogram;
  private readonly requestDuration: Histogram;
  private readonly timeToFirstToken: Histogram;

  constructor(options: OtlpMetricsOptions) {
    const reader = new PeriodicExportingMetricReader({
      exporter: createMetricExporter(options.settings),
      ...metricExportTiming(options.settings.metricsIntervalMs),
    });
    this.provider = new MeterProvider({ resource: options.resource, readers: [reader] });
    this.providerName = options.settings.genAiProviderName;
    const devices = options.meter.status().map((s) => s.device);
    this.simulatedIds = new Set(devices.filter((d) => d.simulated).map((d) => d.id));
    const meter = this.provider.getMeter(n.SCOPE_METER, VERSION);
    observeDevices(meter, options.meter);
    this.requestEnergy = histogram(
      meter,
      n.METRIC_REQUEST_ENERGY,
      n.UNIT_JOULE,
      n.BUCKETS_REQUEST_ENERGY_JOULES,
    );
    this.requestDuration = histogram(
      meter,
      n.METRIC_GEN_AI_SERVER_REQUEST_DURATION,
      n.UNIT_SECOND,
      n.BUCKETS_REQUEST_DURATION_SECONDS,
    );
    this.timeToFirstToken = histogram(
      meter,
      n.METRIC_GEN_AI_SERVER_TIME_TO_FIRST_TOKEN,
      n.UNIT_SECOND,
      n.BUCKETS_TIME_TO_FIRST_TOKEN_SECONDS,
    );
  }

  /** Adds one finished request to the latency and energy histograms (wire to the attributor's `onRecord`). */
  recordRequest(record: RequestEnergyRecord): void {
    const common = genAiAttributes(record, this.providerName);
    this.requestDuration.record(secondsFromNanos(record.durationNanos), common);
    // semconv: time to first token is for successful responses; only streamed ones have it.
    if (record.timeToFirstTokenNanos !== null && record.outcome === 'ok') {
      this.timeToFirstToken.record(secondsFromNanos(record.timeToFirstTokenNanos), common);
    }
    // A request on an unconfigured engine has no GPUs, so no active energy to speak of.
    if (record.gpuDeviceIds.length === 0) return;
    const energy = {
      ...common,
      [n.ATTR_ENGINE_ID]: record.engineId,
      [n.ATTR_HW_TYPE]: 'gpu',
      ...(record.gpuDeviceIds.some((id) => this.simulatedIds.has(id)) ? { [n.ATTR_SIMULATED]: true } : {}),
    };
    const active = joulesFromMicroJoules(BigInt(record.activeEnergyMicroJoules));
    this.requestEnergy.record(active, { ...energy, [n.ATTR_ENERGY_BOUNDARY]: 'active' });
    if (record.comprehensive !== null) {
      const facility = joulesFromMicroJoules(BigInt(record.comprehensive.facilityEnergyMicroJoules));
      this.requestEnergy.record(facility, { ...energy, [n.ATTR_ENERGY_BOUNDARY]: 'comprehensive' });
    }
  }

  /** Collects and exports now. */
  forceFlush(): Promise<void> {
    return this.provider.forceFlush();
  }

  /** Exports a last time and stops the timer. */
  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}

function histogram(meter: OtelMeter, name: string, unit: string, bounds: readonly number[]): Histogram {
  return meter.createHistogram(name, { unit, advice: { explicitBucketBoundaries: [...bounds] } });
}

/**
 * Registers `hw.energy`, `hw.power` and `hw.gpu.utilization` as observable instruments read from
 * `Meter.status()` at each collection: the meter's integer totals are converted only here.
 * `hw.energy` is the device's energy since the meter started, a cumulative sum whose start time
 * is the provider's; a daemon restart is a counter reset that Prometheus-style backends handle.
 */
function observeDevices(meter: OtelMeter, source: MeterStatusSource): void {
  const energy = meter.createObservableCounter(n.METRIC_HW_ENERGY, {
    unit: n.UNIT_JOULE,
    description: 'Energy consumed by the component.',
  });
  const power = meter.createObservableGauge(n.METRIC_HW_POWER, {
    unit: n.UNIT_WATT,
    description: 'Instantaneous power consumed by the component.',
  });
  const utilization = meter.createObservableGauge(n.METRIC_HW_GPU_UTILIZATION, {
    unit: n.UNIT_RATIO,
    description: 'Fraction of time spent in a specific task.',
  });
  const attributesById = new Map<string, Attributes | null>();
  meter.addBatchObservableCallback(
    (result) => {
      for (const status of source.status()) {
        const { device } = status;
        if (!attributesById.has(device.id)) attributesById.set(device.id, deviceAttributes(device));
        const attributes = attributesById.get(device.id);
        if (!attributes) continue;
        result.observe(energy, joulesFromMicroJoules(status.energyMicroJoules), attributes);
        if (status.powerMilliWatts !== null) {
          result.observe(power, wattsFromMilliWatts(status.powerMilliWatts), attributes);
        }
        if (device.hwType === 'gpu' && status.utilizationGpuPercent !== null) {
          const ratio = ratioFromPercent(status.utilizationGpuPercent);
          result.observe(utilization, ratio, { ...attributes, [n.ATTR_HW_GPU_TASK]: 'general' });
        }
      }
    },
    [energy, power, utilization],
  );
}

/** The `hw.*` attributes of one device, or `null` for a device that is not exported. */
export function deviceAttributes(device: DeviceInfo): Attributes | null {
  const type = HW_TYPE[device.hwType];
  if (type === null || device.accounting === 'overlapping') return null;
  return {
    [n.ATTR_HW_ID]: device.id,
    [n.ATTR_HW_TYPE]: type,
    [n.ATTR_HW_NAME]: device.name,
    [n.ATTR_HW_VENDOR]: device.vendor,
    // A GPU's name is its model (`NVIDIA H200`); a RAPL zone's (`package-0`) is not.
    ...(device.hwType === 'gpu' ? { [n.ATTR_HW_MODEL]: device.name } : {}),
    ...(device.driverVersion ? { [n.ATTR_HW_DRIVER_VERSION]: device.driverVersion } : {}),
    ...(device.simulated ? { [n.ATTR_SIMULATED]: true } : {}),
  };
}
