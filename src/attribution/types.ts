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
  readonly tokens: TokenKnowledge;
}

/** One request's part of one device interval's active energy. */
export interface RequestShare {
  readonly requestId: string;
  readonly microJoules: MicroJoules;
}

/** What the active energy was split by: token work, time overlap, or nothing (no requests). */
export type AllocationWeighting = 'tokens' | 'time' | 'none';

/** Which requests a device's energy goes to: its engine's, all of the host's, or none. */
export type DeviceRole = 'engine' | 'host' | 'unassigned';

/**
 * The split of one device's energy over one interval. In memory (bigint), for the ledger to sum per
 * batch. Invariant: Σ shares = requestsMicroJoules and
 * requestsMicroJoules + idleMicroJoules + unattributedMicroJoules = energyMicroJoules, exactly.
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
  readonly weighting: AllocationWeighting;
  /** Some request's tokens were unknown or partial, so the split is an estimate. */
  readonly estimated: boolean;
}

/**
 * Where a device's idle power comes from. Today the configured map ({@link configuredIdleBaseline});
 * a baseline learned from genuinely idle periods (never from the residual, DESIGN §4) plugs in
 * here later without touching the split.
 */
export interface IdleBaseline {
  /** Idle power of the device during this interval, integer mW; 0 when unknown. */
  idleMilliWatts(deviceId: string, interval: DeviceInterval): MilliWatts;
}

/** The idle baseline read from configuration: a fixed mW value per device, 0 for others. */
export function configuredIdleBaseline(idle: ReadonlyMap<string, MilliWatts>): IdleBaseline {
  return { idleMilliWatts: (deviceId) => idle.get(deviceId) ?? 0 };
}

/** One device's part of a request's energy (µJ as a decimal string). */
export type DeviceEnergy = {
  readonly deviceId: string;
  readonly microJoules: DecimalString;
};

/**
 * The comprehensive boundary (DESIGN §4, Google 2025): active + idle share + host, × PUE, with
 * CO2e and water. Filled by a later step; `null` in records until then. Integers only: PUE as
 * thousandths.
 */
export type ComprehensiveEnergy = {
  readonly idleShareMicroJoules: DecimalString;
  readonly itEnergyMicroJoules: DecimalString;
  readonly pueMilli: number;
  readonly facilityEnergyMicroJoules: DecimalString;
  readonly co2eMicrograms: DecimalString;
  readonly waterMicroliters: DecimalString;
};

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
  /** Every engine and host device, sorted by id, zero included. */
  readonly devices: readonly DeviceEnergy[];
  readonly attributionMethod: string;
  /** Some share was split by time or partial tokens, usage was missing, or a device never caught up. */
  readonly estimated: boolean;
  readonly comprehensive: ComprehensiveEnergy | null;
};
