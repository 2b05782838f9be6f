import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { answerClientError } from '../api/framework-errors.js';
import { applyListenerLimits, type ListenerLimits } from '../api/http-limits.js';
import { httpUrl, parseListenAddress } from '../api/listen.js';
import { Attributor } from '../attribution/attributor.js';
import { idleBaselineOf } from '../attribution/idle-config.js';
import { LearnedIdleBaseline } from '../attribution/idle-learner.js';
import { IDLE_BASELINE_FILE, readIdleBaselines, writeIdleBaselines } from '../attribution/idle-store.js';
import type { IdleBaseline, RequestEnergyRecord } from '../attribution/types.js';
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
import type { LedgerHealth } from './ledger-health.js';

/**
 * How long a stop waits for open requests (proxied ones in flight, event-API ones not yet ended)
 * before it ends them as cancelled; a second SIGTERM cuts it short.
 */
export const STOP_DRAIN_MS = 10_000;

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
  /**
   * Stops taking requests: waits up to {@link STOP_DRAIN_MS} (or until `hurry` aborts) for those
   * open, then ends the rest as cancelled, logged, so that each is sealed with what was measured.
   */
  stopIntake(hurry?: AbortSignal): Promise<void>;
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
  /** Whether the ledger takes writes; read on each request (see `ledger-health.ts`). */
  readonly health?: () => LedgerHealth | null;
  /** Connection and time limits of each listener (see `listeners.ts`). */
  readonly limits?: ListenerLimits;
}): RequestPipeline {
  const { config, clock, logger, devices, batcher } = options;
  const engines = resolveEngines(config, devices);
  const hostDeviceIds = devices
    .filter((d) => d.hwType !== 'gpu' && d.accounting !== 'overlapping')
    .map((d) => d.id);
  const gpuIds = devices.filter((d) => d.hwType === 'gpu').map((d) => d.id);
  const configuredIdle = config.attribution.idlePowerMilliWatts;
  // Only a configured value is a configured idle power; unset, the learned baseline measures a prior.
  const idle = new Map(configuredIdle === null ? [] : gpuIds.map((id) => [id, configuredIdle] as const));
  const idleStore = idleStoreOf(config, logger);
  // proxy.inlineEnergy: the proxy waits here for the records of the requests it answers.
  const inline = config.proxy.enabled && config.proxy.inlineEnergy ? new RecordWaiters<InlineEnergy>() : null;
  const idleBaseline = idleBaselineOf(
    config.attribution,
    idle,
    (deviceId, use, previousMilliWatts) => {
      logger.info(
        {
          code: 'IDLE_BASELINE_LEARNED',
          deviceId,
          powerMilliWatts: use.powerMilliWatts,
          previousMilliWatts,
          configuredMilliWatts: idle.get(deviceId) ?? null,
          sampleCount: use.sampleCount,
          idleSeconds: Number(use.idleNanos / 1_000_000_000n),
        },
        `idle baseline of ${deviceId} learned: ${(use.powerMilliWatts / 1000).toFixed(1)} W`,
      );
      idleStore?.save(idleBaseline);
    },
    { gpuDeviceIds: gpuIds, ...(idleStore === null ? {} : { restored: idleStore.restored }) },
  );
  const attributor = new Attributor({
    engines,
    hostDeviceIds,
    idlePowerMilliWatts: idle,
    // No request takes more of a device than its enforced limit × its time in flight.
    powerLimitMilliWatts: new Map(
      devices.flatMap((d) =>
        d.powerLimitMilliWatts === undefined ? [] : [[d.id, d.powerLimitMilliWatts] as const],
      ),
    ),
    idleBaseline,
    prefillWeight: config.attribution.prefillWeight,
    decodeWeight: config.attribution.decodeWeight,
    costModel: config.attribution.costModel,
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
  const admission = () => options.health?.()?.admission() ?? null;
  const gate = new ProxyGate(onEvent, clock, () => options.health?.() ?? null);
  const proxy = config.proxy.enabled
    ? buildProxy(config, clock, logger, engines, (event) => gate.forward(event), inline)
    : null;
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
        events = await startEventApi(config, clock, logger, engines, onEvent, {
          credentialsDirectory: options.credentialsDirectory,
          admission,
          limits: options.limits,
        });
      }
      if (spanJoin !== null)
        spans = await startSpans(config, clock, logger, engines, attributor, spanJoin, {
          admission,
          limits: options.limits,
        });
      if (!proxy) return;
      if (options.limits) applyListenerLimits(proxy.server, options.limits);
      // Node's own answer to a request it cannot parse has no body; ours has the one error shape.
      proxy.server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) =>
        answerClientError(error, socket, PROXY_CLIENT_ERRORS),
      );
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
    stopIntake: async (hurry) => {
      const drained = (closing: Promise<unknown>) => raceDrain(closing, hurry);
      await Promise.all([
        events?.close({ drainMs: STOP_DRAIN_MS, ...(hurry ? { hurry } : {}) }),
        spans?.close(),
        proxy ? drained(proxy.close()) : undefined,
      ]);
      const cancelled = gate.endOpen();
      if (cancelled.length > 0)
        logger.warn(
          { code: 'PROXY_OPEN_AT_STOP', count: cancelled.length, requestIds: cancelled.slice(0, 50) },
          `proxy: ${cancelled.length} request(s) still in flight at stop were ended as cancelled and sealed with what was measured`,
        );
    },
    finish: () => {
      attributor.flush();
      idleStore?.save(idleBaseline);
    },
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
    upstreams: upstreams.map((u) => ({
      name: u.name,
      url: u.url,
      engineId: u.engine,
      models: u.models,
      ...(u.sendsUsageUnasked === undefined ? {} : { sendsUsageUnasked: u.sendsUsageUnasked }),
    })),
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

/** Codes of what the proxy answers itself, below any upstream (docs/PROXY.md). */
const PROXY_CLIENT_ERRORS = {
  malformed: 'PROXY_BAD_REQUEST',
  headersTooLarge: 'PROXY_HEADERS_TOO_LARGE',
  timeout: 'PROXY_REQUEST_TIMEOUT',
} as const;

/** Resolves when `closing` does, after {@link STOP_DRAIN_MS}, or when `hurry` aborts. */
function raceDrain(closing: Promise<unknown>, hurry: AbortSignal | undefined): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  let onHurry: (() => void) | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, STOP_DRAIN_MS);
    timer.unref();
    onHurry = resolve;
    if (hurry?.aborted) resolve();
    hurry?.addEventListener('abort', onHurry, { once: true });
  });
  return Promise.race([closing, waited]).finally(() => {
    clearTimeout(timer);
    if (onHurry) hurry?.removeEventListener('abort', onHurry);
  });
}

/**
 * Between the proxy and attribution. While the ledger cannot write, a new proxied request is
 * relayed unmeasured (its events are dropped and counted); requests measured before keep their
 * events. At stop, requests still in flight are ended as cancelled.
 */
class ProxyGate {
  private readonly open = new Set<string>();
  private readonly unmeasured = new Set<string>();

  constructor(
    private readonly sink: RequestEventSink,
    private readonly clock: Clock,
    private readonly health: () => LedgerHealth | null,
  ) {}

  forward(event: RequestEvent): void {
    if (event.type === 'start') {
      const health = this.health();
      if (health !== null && !health.writable) {
        health.countUnmeasured();
        this.unmeasured.add(event.requestId);
        // Bounded: the oldest ids go first (their late events then reach the attributor as unknown).
        if (this.unmeasured.size > MAX_TRACKED_IDS) this.unmeasured.delete(first(this.unmeasured));
        return;
      }
      this.open.add(event.requestId);
      if (this.open.size > MAX_TRACKED_IDS) this.open.delete(first(this.open));
    } else if (this.unmeasured.has(event.requestId)) {
      if (event.type === 'end') this.unmeasured.delete(event.requestId);
      return;
    } else if (event.type === 'end') this.open.delete(event.requestId);
    this.sink(event);
  }

  /** Ends the requests still open as cancelled, now; returns their ids. */
  endOpen(): string[] {
    const ids = [...this.open];
    this.open.clear();
    for (const requestId of ids)
      this.sink({
        type: 'end',
        requestId,
        monoNanos: this.clock.monoNanos(),
        unixNanos: this.clock.wallUnixNanos(),
        outcome: 'cancelled',
      });
    return ids;
  }
}

/** Most request ids {@link ProxyGate} remembers in each of its sets. */
const MAX_TRACKED_IDS = 100_000;

function first(set: Set<string>): string {
  return set.values().next().value as string;
}

async function startEventApi(
  config: Config,
  clock: Clock,
  logger: Logger,
  engines: readonly EngineSpec[],
  onEvent: RequestEventSink,
  o: {
    readonly credentialsDirectory: string | undefined;
    readonly admission: () => { reason: string; retryAfterSeconds: number } | null;
    readonly limits: ListenerLimits | undefined;
  },
): Promise<EventApiServer> {
  const { createEventApiServer, loadEventTokens } = await import('../events/index.js');
  const tokens = await loadEventTokens({
    path: config.events.tokenFile,
    credentialsDirectory: o.credentialsDirectory,
  });
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
    admission: o.admission,
    ...(o.limits ? { limits: o.limits } : {}),
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
  o: {
    readonly admission: () => { reason: string; retryAfterSeconds: number } | null;
    readonly limits: ListenerLimits | undefined;
  },
): Promise<RunningSpanIntake> {
  const { startSpanIntake } = await import('../spans/wiring.js');
  return startSpanIntake({
    config,
    clock,
    logger,
    engines,
    attributor,
    join,
    admission: o.admission,
    ...(o.limits ? { limits: o.limits } : {}),
  });
}

/**
 * Where the learned idle baselines persist (`<ledger.dir>/idle-baseline.json`, with the ledger on
 * and the learned baseline chosen), what an earlier run left there, and how to save them; `null`
 * otherwise. Failing to read or write is logged, never fatal: the baseline is then learned anew.
 */
function idleStoreOf(config: Config, logger: Logger) {
  if (!config.ledger.enabled || config.attribution.idleBaseline !== 'learned') return null;
  const path = join(config.ledger.dir, IDLE_BASELINE_FILE);
  const { baselines, problem } = readIdleBaselines(path);
  if (problem !== null)
    logger.warn(
      { code: 'IDLE_BASELINE_UNREADABLE', path, err: problem },
      'the persisted idle baselines were not used',
    );
  else if (baselines.size > 0)
    logger.info(
      { code: 'IDLE_BASELINE_RESTORED', path, devices: baselines.size },
      `idle baselines restored for ${baselines.size} device(s)`,
    );
  return {
    restored: baselines,
    save(baseline: IdleBaseline): void {
      if (!(baseline instanceof LearnedIdleBaseline)) return;
      try {
        writeIdleBaselines(path, baseline.snapshot());
      } catch (error) {
        logger.warn(
          { code: 'IDLE_BASELINE_UNWRITABLE', path, err: String(error) },
          'the idle baselines could not be saved',
        );
      }
    },
  };
}
