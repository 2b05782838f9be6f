import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { httpUrl, parseListenAddress } from '../api/listen.js';
import { Attributor } from '../attribution/attributor.js';
import { idleBaselineOf } from '../attribution/idle-config.js';
import type { RequestEnergyRecord } from '../attribution/types.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import type { EventApiServer } from '../events/server.js';
import { type FactorSnapshot, recordActiveImpact } from '../factors/index.js';
import { recordComprehensiveImpact } from '../factors/record-impact.js';
import type { Batcher } from '../ledger/batcher.js';
import type { Logger } from '../log.js';
import type { MeterTick } from '../meter/types.js';
import type { DeviceInfo } from '../probes/types.js';
import { type InlineEnergy, inlineEnergyOf } from '../proxy/inline-energy.js';
import { createMeasuringProxy, type MeasuringProxy } from '../proxy/proxy.js';
import { RecordWaiters } from '../proxy/record-waiter.js';
import type { EngineSpec, RequestEvent, RequestEventSink } from '../requests/types.js';
import type { SpanIntakeStats } from '../spans/intake.js';
import { SpanJoinIndex } from '../spans/join.js';
import type { RunningSpanIntake } from '../spans/wiring.js';
import { NANOS_PER_MILLI } from '../units.js';

/** How long a stop waits for in-flight proxied requests before closing anyway. */
const PROXY_DRAIN_MS = 10_000;

/** Requests in, records out: the proxy (when enabled) feeding the attributor feeding the ledger. */
export interface RequestPipeline {
  readonly attributor: Attributor;
  readonly engines: readonly EngineSpec[];
  /** The devices whose energy the attributor splits (engine GPUs and additive host devices). */
  readonly attributedDeviceIds: ReadonlySet<string>;
  readonly proxy: MeasuringProxy | null;
  /** Meter listener. */
  onTick(tick: MeterTick): void;
  start(): Promise<void>;
  /** Stops taking requests (waits a while for those in flight). */
  stopIntake(): Promise<void>;
  /** Allocates everything still pending; call after the meter's last tick, before the last seal. */
  finish(): void;
  /** Span intake's counters since start; `null` when intake is off or not started. */
  spanStats(): Readonly<SpanIntakeStats> | null;
}

/**
 * Engines from the configuration, or one engine `default` of every GPU when none is configured.
 * Throws `CONFIG_INVALID` naming a device id that this host does not have.
 */
export function resolveEngines(config: Config, devices: readonly DeviceInfo[]): EngineSpec[] {
  const gpus = devices.filter((d) => d.hwType === 'gpu').map((d) => d.id);
  if (config.engines.length === 0) return [{ engineId: 'default', deviceIds: gpus, models: [] }];
  return config.engines.map((engine, index) => {
    const deviceIds = engine.devices === 'all' ? gpus : engine.devices;
    const unknown = deviceIds.filter((id) => !gpus.includes(id));
    if (unknown.length > 0) {
      throw new ConfigError(
        'CONFIG_INVALID',
        `engine ${engine.id} names GPUs this host does not have: ${unknown.join(', ')}`,
        [
          {
            path: `engines.${index}.devices`,
            expected: `GPU ids of this host (${gpus.join(', ') || 'none'})`,
            found: unknown.join(', '),
          },
        ],
      );
    }
    return { engineId: engine.id, deviceIds, models: engine.models };
  });
}

/** Builds the attributor (always, when the ledger is on) and the proxy (when configured). */
export function buildRequestPipeline(options: {
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly devices: readonly DeviceInfo[];
  /** Converts each record's energy to CO2e and water, for both boundaries, before it is sealed. */
  readonly factors: FactorSnapshot;
  /** Where allocations and records go; read on each call, so the ledger can open after this. */
  readonly batcher: () => Batcher | null;
  /** Also told about every record (the OTLP histograms); read on each call. */
  readonly onRecord?: () => ((record: RequestEnergyRecord) => void) | null;
  /** systemd's credentials directory (event API tokens). */
  readonly credentialsDirectory?: string | undefined;
}): RequestPipeline {
  const { config, clock, logger, devices, batcher } = options;
  const engines = resolveEngines(config, devices);
  const hostDeviceIds = devices
    .filter((d) => d.hwType !== 'gpu' && d.accounting !== 'overlapping')
    .map((d) => d.id);
  const idle = new Map(
    devices
      .filter((d) => d.hwType === 'gpu')
      .map((d) => [d.id, config.attribution.idlePowerMilliWatts] as const),
  );
  // proxy.inlineEnergy: the proxy waits here for the records of the requests it answers.
  const inline = config.proxy.enabled && config.proxy.inlineEnergy ? new RecordWaiters<InlineEnergy>() : null;
  const attributor = new Attributor({
    engines,
    hostDeviceIds,
    idlePowerMilliWatts: idle,
    idleBaseline: idleBaselineOf(config.attribution, idle, (deviceId, use, previousMilliWatts) =>
      logger.info(
        {
          code: 'IDLE_BASELINE_LEARNED',
          deviceId,
          powerMilliWatts: use.powerMilliWatts,
          previousMilliWatts,
          configuredMilliWatts: idle.get(deviceId) ?? 0,
          sampleCount: use.sampleCount,
          idleSeconds: Number(use.idleNanos / 1_000_000_000n),
        },
        `idle baseline of ${deviceId} learned: ${(use.powerMilliWatts / 1000).toFixed(1)} W`,
      ),
    ),
    prefillWeight: config.attribution.prefillWeight,
    decodeWeight: config.attribution.decodeWeight,
    maxDelayNanos: BigInt(config.attribution.maxDelayMs) * NANOS_PER_MILLI,
    // Span intake: intervals wait spans.lagMs for spans, which arrive after their request ended.
    minDelayNanos: spanLagNanos(config),
    onAllocation: (allocation) => batcher()?.addAllocation(allocation),
    // Both boundaries: active, and comprehensive (active + idle share + host, × PUE).
    onRecord: (record) => {
      const withImpact = {
        ...record,
        activeImpact: recordActiveImpact(record, options.factors),
        comprehensive: recordComprehensiveImpact(record, options.factors),
      };
      batcher()?.addRecord(withImpact);
      options.onRecord?.()?.(withImpact);
      inline?.deliver(record.requestId, () => inlineEnergyOf(withImpact, options.factors));
    },
  });
  const spanJoin = config.spans.enabled ? new SpanJoinIndex() : null;
  // Every request event passes here, so that span intake can join spans to these requests.
  const onEvent: RequestEventSink = (event: RequestEvent) => {
    spanJoin?.observe(event);
    attributor.onEvent(event);
  };
  const proxy = config.proxy.enabled ? buildProxy(config, clock, logger, engines, onEvent, inline) : null;
  let events: EventApiServer | null = null;
  let spans: RunningSpanIntake | null = null;
  return {
    attributor,
    engines,
    attributedDeviceIds: new Set([...engines.flatMap((e) => e.deviceIds), ...hostDeviceIds]),
    proxy,
    onTick: (tick) => attributor.onTick(tick),
    start: async () => {
      if (config.events.enabled) {
        events = await startEventApi(config, clock, logger, engines, onEvent, options.credentialsDirectory);
      }
      if (spanJoin !== null) spans = await startSpans(config, clock, logger, engines, attributor, spanJoin);
      if (!proxy) return;
      const { host, port } = parseListenAddress(config.proxy.listen);
      proxy.server.listen(port, host);
      await once(proxy.server, 'listening');
      // The bound address, so that a port 0 in `proxy.listen` shows the port it was given.
      const url = httpUrl(host, (proxy.server.address() as AddressInfo).port);
      logger.info(
        {
          code: 'PROXY_LISTENING',
          listen: config.proxy.listen,
          url,
          upstreams: config.proxy.upstreams.map((u) => u.name),
        },
        `measuring proxy on ${url}`,
      );
    },
    stopIntake: async () => {
      await events?.close();
      await spans?.close();
      if (proxy)
        await Promise.race([
          proxy.close(),
          new Promise((resolve) => setTimeout(resolve, PROXY_DRAIN_MS).unref()),
        ]);
    },
    finish: () => attributor.flush(),
    spanStats: () => spans?.stats() ?? null,
  };
}

function buildProxy(
  config: Config,
  clock: Clock,
  logger: Logger,
  engines: readonly EngineSpec[],
  onEvent: RequestEventSink,
  inline: RecordWaiters<InlineEnergy> | null,
): MeasuringProxy {
  const upstreams = config.proxy.upstreams;
  if (upstreams.length === 0) {
    throw new ConfigError('CONFIG_INVALID', 'proxy.enabled is true but proxy.upstreams is empty', [
      {
        path: 'proxy.upstreams',
        expected: 'at least one upstream {name, url, engine, models}',
        found: 'an empty list',
      },
    ]);
  }
  const engineIds = new Set(engines.map((e) => e.engineId));
  for (const [index, upstream] of upstreams.entries()) {
    if (!engineIds.has(upstream.engine)) {
      throw new ConfigError(
        'CONFIG_INVALID',
        `proxy upstream ${upstream.name} runs on unknown engine ${upstream.engine}`,
        [
          {
            path: `proxy.upstreams.${index}.engine`,
            expected: `one of ${[...engineIds].join(', ')}`,
            found: upstream.engine,
          },
        ],
      );
    }
  }
  return createMeasuringProxy({
    upstreams: upstreams.map((u) => ({ name: u.name, url: u.url, engineId: u.engine, models: u.models })),
    defaultUpstream: upstreams[0]?.name as string,
    sink: onEvent,
    clock,
    maxBodyBytes: config.proxy.maxBodyBytes,
    upstreamTimeoutMs: config.proxy.upstreamTimeoutMs,
    inlineEnergy:
      inline === null
        ? undefined
        : {
            maxWaitMs: config.proxy.inlineEnergyMaxWaitMs,
            waitFor: (requestId, maxWaitMs) => inline.wait(requestId, maxWaitMs),
          },
    onMeasurementError: (error) =>
      logger.warn(
        { code: 'PROXY_MEASUREMENT_ERROR', err: String(error) },
        'measurement failed; the request was proxied anyway',
      ),
  });
}

async function startEventApi(
  config: Config,
  clock: Clock,
  logger: Logger,
  engines: readonly EngineSpec[],
  onEvent: RequestEventSink,
  credentialsDirectory: string | undefined,
): Promise<EventApiServer> {
  const { createEventApiServer, loadEventTokens } = await import('../events/index.js');
  const tokens = await loadEventTokens({ path: config.events.tokenFile, credentialsDirectory });
  const server = await createEventApiServer({
    sink: onEvent,
    clock,
    tokens,
    engines: engines.map((e) => e.engineId),
    listen: parseListenAddress(config.events.listen),
    maxInFlight: config.events.maxInFlight,
    maxBodyBytes: config.events.maxBodyBytes,
    openTimeoutMs: config.events.openTimeoutMs,
    logger,
  });
  logger.info({ code: 'EVENTS_LISTENING', url: server.url }, `request event API on ${server.url}`);
  return server;
}

/** Attribution's minimum delay: `spans.lagMs` while span intake is on, else none. */
function spanLagNanos(config: Config): bigint {
  if (!config.spans.enabled) return 0n;
  if (config.spans.lagMs > config.attribution.maxDelayMs)
    throw new ConfigError('CONFIG_INVALID', 'spans.lagMs must not exceed attribution.maxDelayMs', [
      {
        path: 'spans.lagMs',
        expected: `at most attribution.maxDelayMs (${config.attribution.maxDelayMs})`,
        found: String(config.spans.lagMs),
      },
    ]);
  return BigInt(config.spans.lagMs) * NANOS_PER_MILLI;
}

async function startSpans(
  config: Config,
  clock: Clock,
  logger: Logger,
  engines: readonly EngineSpec[],
  attributor: Attributor,
  join: SpanJoinIndex,
): Promise<RunningSpanIntake> {
  const { startSpanIntake } = await import('../spans/wiring.js');
  return startSpanIntake({ config, clock, logger, engines, attributor, join });
}
