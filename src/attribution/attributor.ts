import type { DeviceInterval, MeterTick } from '../meter/types.js';
import type { RequestEvent } from '../requests/types.js';
import type { MicroJoules, MonoNanos } from '../units.js';
import { CostFitter, type FittedCosts } from './cost-fit.js';
import { type AttributorOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { buildRequestRecord, type RequestAccumulator } from './record.js';
import { splitInterval } from './split.js';
import { type EventStatus, RequestTracker, type TrackerStats } from './tracker.js';
import type { DeviceRole, IntervalAllocation, IntervalWork, TrackedRequest } from './types.js';

/** Counters of the attributor on top of the tracker's. */
export interface AttributorStats extends TrackerStats {
  /** Intervals buffered, waiting for their requests to end. */
  readonly pendingIntervals: number;
  /** Ended requests whose record waits for their devices' intervals. */
  readonly pendingRecords: number;
  /** Intervals dropped because they did not end after the device's previous one. */
  readonly staleIntervals: number;
}

type Scope = { readonly role: DeviceRole; readonly engineId: string | null };

/**
 * Splits every device interval's energy over the requests in flight (DESIGN §4), deferred: token
 * counts usually arrive with a request's end, so a device's intervals are buffered and finalized in
 * order, each once every request overlapping it has ended, or once `maxDelayNanos` has passed since
 * its end (then by time overlap, marked `estimated`). Each split goes to `onAllocation`; once an
 * ended request's devices are finalized up to its end, its record goes to `onRecord`.
 *
 * Events only update the tracker (cheap, never throws); splitting runs on `onTick`, `onInterval`,
 * `advance` and `flush`. Time is the largest monotonic time seen in intervals, events or `advance`.
 */
export class Attributor {
  /** The attribution method name, for records and batches. */
  readonly method: string;
  /** The request tracker: read its stats; feed it through `onEvent` only. */
  readonly tracker: RequestTracker;
  private readonly o: ResolvedOptions;
  private readonly queues = new Map<string, DeviceInterval[]>();
  /** End of the last non-gap interval finalized per device. */
  private readonly watermarks = new Map<string, MonoNanos>();
  private readonly lastEnds = new Map<string, MonoNanos>();
  private readonly accumulators = new Map<string, RequestAccumulator>();
  /** Ended requests whose record is not out yet, in end order. */
  private readonly ended = new Set<string>();
  private now: MonoNanos | null = null;
  private stale = 0;
  /** Per engine GPU, with `costModel: fitted`. */
  private readonly fitters = new Map<string, CostFitter>();
  /** The fastest prefill seen per engine and model, ns per uncached prompt token. */
  private readonly prefillNanosPerToken = new Map<string, bigint>();

  /** Throws `AttributionError` `ATTRIBUTION_INVALID_OPTIONS` (see `resolveOptions`). */
  constructor(options: AttributorOptions) {
    this.o = resolveOptions(options);
    this.method = this.o.method;
    this.tracker = new RequestTracker(
      this.o.maxInFlight === undefined ? {} : { maxInFlight: this.o.maxInFlight },
    );
  }

  /** A request event. Never throws; bound, so it can be passed as a `RequestEventSink`. */
  readonly onEvent = (event: RequestEvent): EventStatus => {
    const result = this.tracker.handle(event);
    for (const id of result.ended) {
      this.ended.add(id);
      if (this.o.costModel === 'fitted') this.placePrefill(id);
    }
    this.see(event.monoNanos);
    return result.status;
  };

  /** Every interval of a meter tick, then whatever can be finalized. */
  onTick(tick: MeterTick): void {
    for (const interval of tick.intervals) this.enqueue(interval);
    this.pump(false);
  }

  /** One interval, then whatever can be finalized. */
  onInterval(interval: DeviceInterval): void {
    this.enqueue(interval);
    this.pump(false);
  }

  /** Moves time forward (the daemon's clock) so that max delays expire without new intervals. */
  advance(nowMonoNanos: MonoNanos): void {
    this.see(nowMonoNanos);
    this.pump(false);
  }

  /** Finalizes everything buffered now (shutdown): open requests by time, records for all ended. */
  flush(): void {
    this.pump(true);
  }

  /** The tracker's event counters, plus what is buffered. */
  stats(): AttributorStats {
    let pending = 0;
    for (const queue of this.queues.values()) pending += queue.length;
    return {
      ...this.tracker.stats(),
      pendingIntervals: pending,
      pendingRecords: this.ended.size,
      staleIntervals: this.stale,
    };
  }

  private see(t: MonoNanos): void {
    if (this.now === null || t > this.now) this.now = t;
  }

  private age(t: MonoNanos): bigint {
    return this.now === null || this.now < t ? 0n : this.now - t;
  }

  private enqueue(interval: DeviceInterval): void {
    const last = this.lastEnds.get(interval.deviceId);
    if (last !== undefined && interval.endMonoNanos <= last) {
      this.stale += 1;
      return;
    }
    this.lastEnds.set(interval.deviceId, interval.endMonoNanos);
    const queue = this.queues.get(interval.deviceId);
    if (queue) queue.push(interval);
    else this.queues.set(interval.deviceId, [interval]);
    this.see(interval.endMonoNanos);
  }

  private pump(force: boolean): void {
    // Devices of one engine usually share tick bounds: compute each interval's work once.
    const cache = new Map<string, IntervalWork[]>();
    for (const [deviceId, queue] of this.queues) {
      while (queue.length > 0) {
        const outcome = this.finalize(deviceId, queue[0] as DeviceInterval, force, cache);
        if (outcome === 'wait') break;
        // Dequeue before the callback: a throwing callback must not get an interval split twice.
        queue.shift();
        if (outcome !== 'gap') this.o.onAllocation(outcome);
      }
    }
    this.emitRecords(force);
  }

  /** Splits one interval if it may be split now (`wait` keeps it, and those after it, buffered). */
  private finalize(
    deviceId: string,
    interval: DeviceInterval,
    force: boolean,
    cache: Map<string, IntervalWork[]>,
  ): IntervalAllocation | 'wait' | 'gap' {
    const energy = interval.energyMicroJoules;
    // A gap splits nothing: its energy, if the counter bridged it, comes in a later interval.
    if (energy === null) return 'gap';
    const age = this.age(interval.endMonoNanos);
    if (!force && age < this.o.minDelayNanos) return 'wait';
    const scope = this.scopeOf(deviceId);
    const filter = scope.role === 'engine' ? scope.engineId : null;
    const expired = force || age >= this.o.maxDelayNanos;
    if (
      scope.role !== 'unassigned' &&
      !expired &&
      this.tracker.hasOpenStartedBy(interval.endMonoNanos, filter)
    ) {
      return 'wait';
    }
    const key = `${filter}|${interval.startMonoNanos}|${interval.endMonoNanos}`;
    let works = scope.role === 'unassigned' ? [] : cache.get(key);
    if (!works) {
      works = this.tracker.work(interval.startMonoNanos, interval.endMonoNanos, filter);
      cache.set(key, works);
    }
    const baseline = this.o.idleBaseline;
    const fitter = scope.role === 'engine' ? this.fitterOf(deviceId) : null;
    const allocation = splitInterval({
      interval: { ...interval, energyMicroJoules: energy },
      ...scope,
      idleBaseline: baseline.idleFor(deviceId, interval),
      works,
      prefillWeight: this.o.prefillWeight,
      decodeWeight: this.o.decodeWeight,
      powerLimitMilliWatts: this.o.powerLimits.get(deviceId) ?? null,
      fittedWeights: fitter?.weights(works) ?? null,
    });
    // Like the idle baseline, a fit never weights the interval it learns from. It learns only from
    // counter energy: integrated power (a 1 s average reading) lags the work it would be fitted to.
    if (interval.source === 'counter')
      fitter?.observe(allocation.energyMicroJoules - allocation.idleMicroJoules, works);
    // After the split: an interval's own energy never sets the baseline subtracted from it. A
    // request that never reached the engine did not make it busy.
    if (scope.role === 'engine')
      baseline.observe?.(
        deviceId,
        interval,
        works.filter((work) => work.request.outcome !== 'unreached'),
      );
    this.credit(allocation);
    this.watermarks.set(deviceId, interval.endMonoNanos);
    return allocation;
  }

  /**
   * With `costModel: fitted`, a request's prefill is placed where it ran: an engine prefills at
   * most at the fastest rate seen on it (uncached prompt tokens ÷ time to first token, per engine
   * and model), so a prompt whose first token came later than that rate explains waited in a
   * queue first. Its prefill starts prompt ÷ fastest rate + one decode step (the scheduling slack)
   * before its first token, never before its start.
   */
  private placePrefill(requestId: string): void {
    const request = this.tracker.get(requestId);
    const first = request?.firstTokenMonoNanos ?? null;
    const usage = request?.usage ?? null;
    if (request === undefined || first === null || usage === null || request.outcome !== 'ok') return;
    const uncached = BigInt(Math.max(0, usage.inputTokens - usage.cachedInputTokens));
    if (uncached === 0n) return;
    const key = `${request.engineId}\u0000${request.model ?? ''}`;
    const perToken = (first - request.startMonoNanos) / uncached;
    const fastest = this.prefillNanosPerToken.get(key);
    if (fastest === undefined || perToken < fastest) this.prefillNanosPerToken.set(key, perToken);
    const rate = this.prefillNanosPerToken.get(key) as bigint;
    const timeline = request.timeline;
    const last = timeline.at(-1);
    const firstPoint = timeline[0];
    const step =
      last !== undefined && firstPoint !== undefined && last.outputTokens > firstPoint.outputTokens
        ? (last.monoNanos - firstPoint.monoNanos) / BigInt(last.outputTokens - firstPoint.outputTokens)
        : 0n;
    this.tracker.setPrefillFrom(requestId, first - uncached * rate - step);
  }

  /** The costs fitted so far for an engine GPU (`costModel: fitted`); `null` otherwise. */
  fittedCosts(deviceId: string): FittedCosts | null {
    return this.fitters.get(deviceId)?.snapshot() ?? null;
  }

  private fitterOf(deviceId: string): CostFitter | null {
    if (this.o.costModel !== 'fitted') return null;
    let fitter = this.fitters.get(deviceId);
    if (!fitter) {
      const { prefillWeight: a, decodeWeight: b } = this.o;
      // The prior's decode:prefill ratio is the configured b:a.
      fitter = new CostFitter({
        ...(a > 0n ? { priorRatio: Number(b) / Number(a) } : {}),
        ...this.o.costFit,
      });
      this.fitters.set(deviceId, fitter);
    }
    return fitter;
  }

  private scopeOf(deviceId: string): Scope {
    const engine = this.o.engineOfDevice.get(deviceId);
    if (engine) return { role: 'engine', engineId: engine.engineId };
    return { role: this.o.hosts.has(deviceId) ? 'host' : 'unassigned', engineId: null };
  }

  private credit(allocation: IntervalAllocation): void {
    for (const share of allocation.shares) {
      const accumulator = this.accumulatorOf(share.requestId);
      add(accumulator.microJoulesByDevice, allocation.deviceId, share.microJoules);
      accumulator.estimated ||= allocation.estimated;
    }
    for (const share of allocation.idleShares) {
      const accumulator = this.accumulatorOf(share.requestId);
      add(accumulator.idleMicroJoulesByDevice, allocation.deviceId, share.microJoules);
      accumulator.estimated ||= allocation.estimated;
    }
  }

  private accumulatorOf(requestId: string): RequestAccumulator {
    let accumulator = this.accumulators.get(requestId);
    if (!accumulator) {
      accumulator = {
        microJoulesByDevice: new Map<string, MicroJoules>(),
        idleMicroJoulesByDevice: new Map<string, MicroJoules>(),
        estimated: false,
      };
      this.accumulators.set(requestId, accumulator);
    }
    return accumulator;
  }

  private emitRecords(force: boolean): void {
    for (const id of this.ended) {
      const request = this.tracker.get(id);
      const readiness = request ? this.readiness(request, force) : 'complete';
      if (readiness === 'wait') continue;
      this.ended.delete(id);
      if (!request) continue;
      const gpuDeviceIds = this.o.engines.get(request.engineId)?.deviceIds ?? [];
      const record = buildRequestRecord(request, this.accumulators.get(id), {
        gpuDeviceIds,
        hostDeviceIds: this.o.hostDeviceIds,
        attributionMethod: this.method,
        incomplete: readiness === 'incomplete',
      });
      this.accumulators.delete(id);
      this.tracker.release(id);
      this.o.onRecord(record);
    }
  }

  /**
   * A record is complete once every device of the request is finalized up to its end. After the
   * max delay it goes out incomplete (a device lost or silent), unless a buffered interval of a
   * lagging device still reaches back to the request: that one will be forced in turn.
   */
  private readiness(request: TrackedRequest, force: boolean): 'wait' | 'complete' | 'incomplete' {
    const end = request.endMonoNanos as MonoNanos;
    const devices = [...(this.o.engines.get(request.engineId)?.deviceIds ?? []), ...this.o.hostDeviceIds];
    const lagging = devices.filter((id) => (this.watermarks.get(id) ?? end - 1n) < end);
    if (lagging.length === 0) return 'complete';
    if (force) return 'incomplete';
    if (this.age(end) < this.o.maxDelayNanos) return 'wait';
    const reachesBack = (id: string) => {
      const head = this.queues.get(id)?.[0];
      return head !== undefined && head.startMonoNanos <= end;
    };
    return lagging.some(reachesBack) ? 'wait' : 'incomplete';
  }
}

function add(byDevice: Map<string, MicroJoules>, deviceId: string, microJoules: MicroJoules): void {
  byDevice.set(deviceId, (byDevice.get(deviceId) ?? 0n) + microJoules);
}
