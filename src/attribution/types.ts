import type { ComprehensiveImpactWire } from '../factors/record-impact.js';
import type { DeviceInterval } from '../meter/types.js';
import type {
  RequestEndEvent,
  RequestOperation,
  RequestSourceKind,
  RequestUsage,
} from '../requests/types.js';
import type { MicroJoules, MilliWatts, MonoNanos, UnixNanos } from '../units.js';

/**
 * Work is counted in integer milli-tokens (1 token = 1000). Prefill spread over a time span puts
 * fractions of a token into each interval; a fixed-point integer keeps that exact enough for
 * weights without floats, and cumulative rounding (see `work.ts`) makes a request's per-interval
 * amounts add up to its token count × 1000 exactly.
 */
export const MILLI_TOKENS_PER_TOKEN = 1000n;

/** An integer too large for a JSON number, written in decimal. */
export type DecimalString = string;

/** How a request ended; `evicted` means the tracker dropped it to stay within its in-flight bound. */
export type RequestOutcome = RequestEndEvent['outcome'] | 'evicted';

/** One point of a streaming request's token timeline: cumulative output tokens at a time. */
export interface ProgressPoint {
  readonly monoNanos: MonoNanos;
  readonly outputTokens: number;
}

/** What the tracker knows about one request (read-only view). */
export interface TrackedRequest {
  readonly requestId: string;
  readonly engineId: string;
  readonly source: RequestSourceKind;
  readonly model: string | null;
  readonly operation: RequestOperation | null;
  readonly traceId: string | null;
  readonly startMonoNanos: MonoNanos;
  readonly startUnixNanos: UnixNanos;
  /** Time of the first progress event; `null` when the request did not stream. */
  readonly firstTokenMonoNanos: MonoNanos | null;
  /**
   * Where its prefill work began, when the attributor estimated it (a prompt queued behind others
   * waits, doing no work, then prefills just before its first token); `null`: at its start.
   */
  readonly prefillFromMonoNanos: MonoNanos | null;
  /** Cumulative output tokens, non-decreasing in time and count. */
  readonly timeline: readonly ProgressPoint[];
  /** Some progress counts were chunk counts, not token counts. */
  readonly progressEstimated: boolean;
  readonly endMonoNanos: MonoNanos | null;
  readonly endUnixNanos: UnixNanos | null;
  readonly outcome: RequestOutcome | null;
  readonly usage: RequestUsage | null;
  readonly httpStatus: number | null;
}

/**
 * How well a request's token counts are known: `known` (ended with usage), `partial` (ended
 * without usage but streamed: decode from the stream, prefill unknown), `unknown` (still open, or
 * ended with neither).
 */
export type TokenKnowledge = 'known' | 'partial' | 'unknown';

/** The work one request did inside one interval `(t0, t1]`. */
export interface IntervalWork {
  readonly request: TrackedRequest;
  /** Uncached input tokens × 1000 processed in the interval. */
  readonly prefillMilliTokens: bigint;
  /** Output tokens × 1000 that arrived in the interval. */
  readonly decodeMilliTokens: bigint;
  /** Nanoseconds of the interval the request was in flight (open requests: up to t1). */
  readonly overlapNanos: bigint;
  /** Nanoseconds of the interval inside its prefill window: [start, first token], or [start, end]. */
  readonly prefillNanos: bigint;
  readonly tokens: TokenKnowledge;
}

/** One request's part of one device interval's active energy. */
export interface RequestShare {
  readonly requestId: string;
  readonly microJoules: MicroJoules;
}

/**
 * What the active energy was split by: token work, time overlap, both (requests of unknown tokens
 * took their time share, the others shared the rest by tokens), or nothing (no requests).
 */
export type AllocationWeighting = 'tokens' | 'time' | 'mixed' | 'none';

/** Which requests a device's energy goes to: its engine's, all of the host's, or none. */
export type DeviceRole = 'engine' | 'host' | 'unassigned';

/**
 * Which idle power a split subtracted, and where it came from (`configured`: the configuration's
 * value; `learned`: measured over genuinely idle periods, see `idle-learner.ts`). `sampleCount` and
 * `idleNanos` describe the idle intervals behind a learned value (0 for a configured one).
 */
export interface IdleBaselineUse {
  readonly source: 'configured' | 'learned';
  readonly powerMilliWatts: MilliWatts;
  readonly sampleCount: number;
  readonly idleNanos: bigint;
}

/**
 * The split of one device's energy over one interval. In memory (bigint), for the ledger to sum per
 * batch. Invariants: Σ shares = requestsMicroJoules,
 * requestsMicroJoules + idleMicroJoules + unattributedMicroJoules = energyMicroJoules, and
 * Σ idleShares = idleSharedMicroJoules ≤ idleMicroJoules, exactly.
 */
export interface IntervalAllocation {
  readonly deviceId: string;
  readonly role: DeviceRole;
  readonly engineId: string | null;
  readonly intervalStartMonoNanos: MonoNanos;
  readonly intervalEndMonoNanos: MonoNanos;
  readonly energyMicroJoules: MicroJoules;
  readonly idleMicroJoules: MicroJoules;
  readonly requestsMicroJoules: MicroJoules;
  readonly unattributedMicroJoules: MicroJoules;
  /** Non-zero shares only, in the tracker's request order (start-event order). */
  readonly shares: readonly RequestShare[];
  /**
   * The idle part given to the requests in flight, with the same weights as the active part (the
   * comprehensive boundary's idle share); non-zero shares only. Empty when no request is in flight:
   * that idle energy stays unshared.
   */
  readonly idleShares: readonly RequestShare[];
  /** Σ idleShares; the rest of `idleMicroJoules` is unshared. */
  readonly idleSharedMicroJoules: MicroJoules;
  /** The idle power this split subtracted and its provenance. */
  readonly idleBaseline: IdleBaselineUse;
  readonly weighting: AllocationWeighting;
  /** Some request's tokens were unknown or partial, so the split is an estimate. */
  readonly estimated: boolean;
}

/**
 * Where a device's idle power comes from: the configured map ({@link configuredIdleBaseline}) or a
 * baseline learned from genuinely idle periods (`LearnedIdleBaseline`), never from the residual of
 * attribution (DESIGN §4).
 */
export interface IdleBaseline {
  /** `configured` or `learned(…)` with its parameters, for the attribution method's name. */
  readonly description: string;
  /** The idle power to subtract from this interval of the device, and its provenance. */
  idleFor(deviceId: string, interval: DeviceInterval): IdleBaselineUse;
  /**
   * Called after each finalized split of an engine GPU, in order per device, with the requests of
   * the device's engine that overlapped the interval (a learner looks for idle periods here).
   */
  observe?(deviceId: string, interval: DeviceInterval, works: readonly IntervalWork[]): void;
}

/** The idle baseline read from configuration: a fixed mW value per device, 0 for others. */
export function configuredIdleBaseline(idle: ReadonlyMap<string, MilliWatts>): IdleBaseline {
  return {
    description: 'configured',
    idleFor: (deviceId) => ({
      source: 'configured',
      powerMilliWatts: idle.get(deviceId) ?? 0,
      sampleCount: 0,
      idleNanos: 0n,
    }),
  };
}

/** One device's part of a request's energy (µJ as decimal strings). */
export type DeviceEnergy = {
  readonly deviceId: string;
  /** The request's share of the device's active energy (above the idle baseline). */
  readonly microJoules: DecimalString;
  /** The request's share of the device's idle energy (the comprehensive boundary's part). */
  readonly idleShareMicroJoules: DecimalString;
};

/**
 * The comprehensive boundary (DESIGN §4, Google 2025) as records carry it: active + idle share +
 * host, × PUE, with CO2e and water (`ComprehensiveImpactWire`, built by `factors/record-impact.ts`).
 */
export type ComprehensiveEnergy = ComprehensiveImpactWire;

/**
 * The record of one finished request, as it enters a batch: plain canonical-JSON (integers that
 * can pass 2^53 as decimal strings, `null` rather than absent). A type alias, not an interface,
 * so that it is assignable to the ledger's `RequestRecord`.
 */
export type RequestEnergyRecord = {
  readonly recordVersion: 1;
  readonly requestId: string;
  readonly engineId: string;
  /** The engine's GPUs (empty when the engine is not configured). */
  readonly gpuDeviceIds: readonly string[];
  readonly model: string | null;
  readonly operation: RequestOperation | null;
  readonly source: RequestSourceKind;
  readonly traceId: string | null;
  /** RFC 3339 UTC (ms). */
  readonly startedAt: string;
  readonly endedAt: string;
  readonly durationNanos: DecimalString;
  readonly timeToFirstTokenNanos: DecimalString | null;
  readonly inputTokens: number | null;
  readonly cachedInputTokens: number | null;
  readonly outputTokens: number | null;
  /** Where the token counts came from: server usage, the stream's progress, or nowhere. */
  readonly tokensSource: 'usage' | 'stream' | 'none';
  readonly outcome: RequestOutcome;
  readonly httpStatus: number | null;
  /** Active boundary: Σ of its shares over the engine's GPUs. */
  readonly activeEnergyMicroJoules: DecimalString;
  /** Σ of its shares over host (RAPL) devices. */
  readonly hostEnergyMicroJoules: DecimalString;
  /**
   * Σ of its idle shares over the engine's GPUs: its part of the idle energy of the intervals it
   * was in flight in, split like the active energy (the comprehensive boundary's idle share).
   */
  readonly idleShareMicroJoules: DecimalString;
  /** Every engine and host device, sorted by id, zero included. */
  readonly devices: readonly DeviceEnergy[];
  readonly attributionMethod: string;
  /** Some share was split by time or partial tokens, usage was missing, or a device never caught up. */
  readonly estimated: boolean;
  /** Filled where the factors are known (the daemon's pipeline); `null` straight from the attributor. */
  readonly comprehensive: ComprehensiveEnergy | null;
};
