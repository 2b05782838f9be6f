/**
 * The metrics: device energy and power from the meter (semconv `hw.*`), GenAI server latency
 * (semconv `gen_ai.server.*`) and per-request energy, CO2e and water (ours) from attribution
 * records. One `MeterProvider` whose readers are the OTLP periodic reader and, when enabled, the
 * Prometheus endpoint's, so both see the same instruments; nothing is registered globally, so the
 * daemon's other code and any user instrumentation keep their own providers.
 *
 * Cardinality stays bounded by devices, engines, models and operations: request ids and trace ids
 * never become metric attributes (they are in the signed records and the exported log records).
 */
import type { Attributes, Histogram, Meter as OtelMeter } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import { MeterProvider, type MetricReader, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { RequestEnergyRecord } from '../attribution/types.js';
import type { Config } from '../config/schema.js';
import type { ImpactWire } from '../factors/record-impact.js';
import type { DeviceStatus } from '../meter/meter.js';
import type { DeviceInfo } from '../probes/types.js';
import type { SpanIntakeStats } from '../spans/intake.js';
import { VERSION } from '../version.js';
import {
  gramsFromMicrograms,
  joulesFromMicroJoules,
  litersFromMicroliters,
  ratioFromPercent,
  secondsFromNanos,
  wattsFromMilliWatts,
} from './edge.js';
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
  /** Push over OTLP every `metricsIntervalMs` (default true); false for a scrape-only provider. */
  readonly pushOtlp?: boolean;
  /** More readers on the same provider: the Prometheus endpoint's. */
  readonly readers?: readonly MetricReader[];
  /** Span intake's counters, read at each collection; `null` while (or when) intake is off. */
  readonly spanStats?: () => Readonly<SpanIntakeStats> | null;
}

/**
 * A finished request as the pipeline hands it over: the attributor's record with the active
 * boundary's CO2e and water (`activeImpact`, as the ledger stores it) when the factors were applied.
 */
export type ExportedRequest = RequestEnergyRecord & { readonly activeImpact?: ImpactWire | null };

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
  private readonly requestCo2e: Histogram;
  private readonly requestWater: Histogram;
  private readonly requestDuration: Histogram;
  private readonly timeToFirstToken: Histogram;

  constructor(options: OtlpMetricsOptions) {
    const readers: MetricReader[] = [...(options.readers ?? [])];
    if (options.pushOtlp !== false) {
      readers.unshift(
        new PeriodicExportingMetricReader({
          exporter: createMetricExporter(options.settings),
          ...metricExportTiming(options.settings.metricsIntervalMs),
        }),
      );
    }
    this.provider = new MeterProvider({ resource: options.resource, readers });
    this.providerName = options.settings.genAiProviderName;
    const devices = options.meter.status().map((s) => s.device);
    this.simulatedIds = new Set(devices.filter((d) => d.simulated).map((d) => d.id));
    const meter = this.provider.getMeter(n.SCOPE_METER, VERSION);
    observeDevices(meter, options.meter);
    if (options.spanStats) observeSpanIntake(meter, options.spanStats);
    this.requestEnergy = histogram(meter, n.METRIC_REQUEST_ENERGY, {
      unit: n.UNIT_JOULE,
      bounds: n.BUCKETS_REQUEST_ENERGY_JOULES,
      description: 'Energy attributed to one finished request, per boundary.',
    });
    this.requestCo2e = histogram(meter, n.METRIC_REQUEST_CO2E, {
      unit: n.UNIT_GRAM,
      bounds: n.BUCKETS_REQUEST_CO2E_GRAMS,
      description: 'CO2e of one finished request, per boundary and basis.',
    });
    this.requestWater = histogram(meter, n.METRIC_REQUEST_WATER, {
      unit: n.UNIT_LITER,
      bounds: n.BUCKETS_REQUEST_WATER_LITERS,
      description: 'Water (on-site and off-site) of one finished request, per boundary.',
    });
    this.requestDuration = histogram(meter, n.METRIC_GEN_AI_SERVER_REQUEST_DURATION, {
      unit: n.UNIT_SECOND,
      bounds: n.BUCKETS_REQUEST_DURATION_SECONDS,
      description: 'Generative AI server request duration such as time-to-last byte or last output token.',
    });
    this.timeToFirstToken = histogram(meter, n.METRIC_GEN_AI_SERVER_TIME_TO_FIRST_TOKEN, {
      unit: n.UNIT_SECOND,
      bounds: n.BUCKETS_TIME_TO_FIRST_TOKEN_SECONDS,
      description: 'Time to generate first token for successful responses.',
    });
  }

  /**
   * Adds one finished request to the latency, energy, CO2e and water histograms (wire to the
   * attributor's `onRecord`). A figure the record does not know (`null`) is left out, never 0.
   */
  recordRequest(record: ExportedRequest): void {
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
    const activeAttributes = { ...energy, [n.ATTR_ENERGY_BOUNDARY]: 'active' };
    this.requestEnergy.record(active, activeAttributes);
    if (record.activeImpact) this.recordImpact(record.activeImpact, activeAttributes);
    if (record.comprehensive !== null) {
      const facility = joulesFromMicroJoules(BigInt(record.comprehensive.facilityEnergyMicroJoules));
      const comprehensiveAttributes = { ...energy, [n.ATTR_ENERGY_BOUNDARY]: 'comprehensive' };
      this.requestEnergy.record(facility, comprehensiveAttributes);
      this.recordImpact(record.comprehensive, comprehensiveAttributes);
    }
  }

  /** One boundary's CO2e (location, and market when configured) and total water, when known. */
  private recordImpact(impact: ImpactWire, attributes: Attributes): void {
    const co2e: [string, string | null][] = [
      ['location', impact.co2eLocationMicrograms],
      ['market', impact.co2eMarketMicrograms],
    ];
    for (const [basis, micrograms] of co2e) {
      if (micrograms === null) continue;
      this.requestCo2e.record(gramsFromMicrograms(BigInt(micrograms)), {
        ...attributes,
        [n.ATTR_CO2E_BASIS]: basis,
      });
    }
    if (impact.waterMicroliters !== null) {
      this.requestWater.record(litersFromMicroliters(BigInt(impact.waterMicroliters)), attributes);
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

function histogram(
  meter: OtelMeter,
  name: string,
  options: { unit: string; bounds: readonly number[]; description: string },
): Histogram {
  return meter.createHistogram(name, {
    unit: options.unit,
    description: options.description,
    advice: { explicitBucketBoundaries: [...options.bounds] },
  });
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

/** Each span outcome, as `wattledger.span.outcome` names it. Every span received gets one. */
const SPAN_OUTCOMES: ReadonlyArray<readonly [Exclude<keyof SpanIntakeStats, 'spans'>, string]> = [
  ['requests', 'request'],
  ['joinedEnriched', 'joined_enriched'],
  ['joinedOpen', 'joined_open'],
  ['joinedAfterEnd', 'joined_after_end'],
  ['joinedAfterRecord', 'joined_after_record'],
  ['joinedTrace', 'joined_trace'],
  ['duplicate', 'duplicate'],
  ['ignored', 'ignored'],
  ['rejected', 'rejected'],
];

/** `wattledger.spans.received` by outcome, cumulative since start; nothing while intake is off. */
function observeSpanIntake(meter: OtelMeter, stats: () => Readonly<SpanIntakeStats> | null): void {
  const received = meter.createObservableCounter(n.METRIC_SPANS_RECEIVED, {
    unit: n.UNIT_SPAN,
    description: 'Spans received by OTLP span intake, by what became of each.',
  });
  received.addCallback((result) => {
    const now = stats();
    if (now === null) return;
    for (const [key, outcome] of SPAN_OUTCOMES) result.observe(now[key], { [n.ATTR_SPAN_OUTCOME]: outcome });
  });
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
