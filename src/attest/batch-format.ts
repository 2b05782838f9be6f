/**
 * Batch format v1: the wire shape of one signed measurement batch (an in-toto Statement v1 whose
 * predicate is below). Normative description: docs/FORMAT.md. Every quantity is an integer with
 * its unit in its name; energy and time values are decimal strings (they can exceed 2^53); small
 * counts and milliwatts are JSON integers. Nothing here touches the disk, the network or hardware.
 */

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const BATCH_PREDICATE_TYPE = 'https://wattledger.dev/energy-batch/v1';
/** DSSE payloadType of a batch envelope (in-toto envelope.md). */
export const BATCH_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const BATCH_FORMAT_VERSION = 1;

/** A decimal string of a non-negative integer (`"0"`, `"1234"`), no sign, no leading zeros. */
export type DecimalString = string;
/** A decimal string of a possibly negative integer (residuals). */
export type SignedDecimalString = string;

export interface WireAgent {
  readonly hostId: string;
  readonly hostIdSource: string;
  readonly hostname?: string;
  readonly systemUuid?: string;
  readonly systemSerial?: string;
  readonly systemModel?: string;
  readonly cpuBrand?: string;
  readonly osDistro?: string;
  readonly kernelRelease?: string;
  /** wattledger key id of the signing key (see key-id.ts). */
  readonly keyId: string;
  readonly softwareVersion: string;
  /** SHA-256 (hex) of the canonical JSON of the effective configuration. */
  readonly configSha256: string;
  /** Random id of the daemon process; monotonic times compare only within one run. */
  readonly runId: string;
}

export interface WireWindow {
  /** RFC 3339 UTC, for people. */
  readonly startedAt: string;
  readonly endedAt: string;
  readonly startUnixNanos: DecimalString;
  readonly endUnixNanos: DecimalString;
  readonly startMonoNanos: DecimalString;
  readonly endMonoNanos: DecimalString;
  /** Wall time between the previous batch's end and this window's start (agent downtime), else "0". */
  readonly downtimeNanos: DecimalString;
}

export interface WireGap {
  readonly reason: string;
  readonly startMonoNanos: DecimalString | null;
  readonly endMonoNanos: DecimalString | null;
  readonly durationNanos: DecimalString;
  /** The counter measured the energy across this gap after all. */
  readonly bridged: boolean;
  readonly code?: string;
}

export interface WireDiscontinuity {
  /** `unbridged-gap`: the counter rose across a gap this batch's window cannot cover; not counted. */
  readonly reason: 'counter-reset' | 'implausible-counter' | 'agent-downtime-reset' | 'unbridged-gap';
  readonly fromMicroJoules: DecimalString;
  readonly toMicroJoules: DecimalString;
}

/**
 * Allocation parts: energy that went to requests, to the idle baseline, and to no request; and the
 * idle part split in two: shared (the requests' idle shares, the comprehensive boundary) and
 * unshared (idle of intervals with no request in flight). Invariant: shared + unshared = idle.
 */
export interface WireAllocationSums {
  readonly requestsMicroJoules: DecimalString;
  readonly idleMicroJoules: DecimalString;
  readonly unattributedMicroJoules: DecimalString;
  readonly idleSharedMicroJoules: DecimalString;
  readonly idleUnsharedMicroJoules: DecimalString;
}

/**
 * The idle baseline the splits reported in this batch's window subtracted (fresh and resolved):
 * provenance and power of the last one, and the range of powers over all of them.
 */
export interface WireIdleBaseline {
  /** `configured`: the configuration's value (also a learned baseline's fallback); `learned`: from idle periods. */
  readonly source: 'configured' | 'learned';
  readonly powerMilliWatts: number;
  readonly minPowerMilliWatts: number;
  readonly maxPowerMilliWatts: number;
  /** Idle intervals behind a learned value; 0 for a configured one. */
  readonly sampleCount: number;
  /** Their total duration; "0" for a configured one. */
  readonly idleNanos: DecimalString;
}

/**
 * How one device's energy is attributed. Allocations can be finalized after their batch is sealed
 * (they wait for the requests overlapping an interval to end), so the split is an account:
 *
 * - the three top-level parts: allocations, finalized before the seal, of this batch's intervals;
 * - `deferredMicroJoules`: this batch's energy whose intervals were not finalized yet
 *   (invariant A: requests + idle + unattributed + deferred = `energyMicroJoules`);
 * - `resolved`: allocations finalized during this batch's window for intervals of earlier batches;
 * - `outstandingDeferredMicroJoules`: deferred energy of this and earlier batches not yet resolved
 *   (invariant B: previous batch's outstanding + deferred − Σ resolved, never negative);
 * - in the top-level parts and in `resolved`, idle = idle shared + idle unshared (invariant C).
 */
export interface WireAttribution extends WireAllocationSums {
  readonly deferredMicroJoules: DecimalString;
  readonly resolved: WireAllocationSums;
  readonly outstandingDeferredMicroJoules: DecimalString;
  /** Null when no split of this device was reported in the window. */
  readonly idleBaseline: WireIdleBaseline | null;
}

export interface WireDevice {
  readonly deviceId: string;
  readonly probe: string;
  readonly hwType: string;
  readonly name: string;
  readonly vendor: string;
  /** `overlapping` devices (RAPL psys) are not part of the totals. */
  readonly accounting: 'additive' | 'overlapping';
  readonly simulated: boolean;
  readonly powerLimitMilliWatts: number | null;
  readonly driverVersion: string | null;
  /** RAPL `max_energy_range_uj`; null for counters that do not wrap. */
  readonly wrapRangeMicroJoules: DecimalString | null;
  readonly energySource: 'counter' | 'integrated-power' | 'none';
  readonly powerSemantics: 'instant' | 'average-1s' | 'none';
  readonly counterStartMicroJoules: DecimalString | null;
  readonly counterEndMicroJoules: DecimalString | null;
  readonly counterEnergyMicroJoules: DecimalString;
  /** Integrated power used where the counter gave no delta (resets). */
  readonly fallbackEnergyMicroJoules: DecimalString;
  readonly integratedEnergyMicroJoules: DecimalString;
  /** Counter energy measured across agent downtime (included in counterEnergyMicroJoules). */
  readonly downtimeEnergyMicroJoules: DecimalString;
  readonly energyMicroJoules: DecimalString;
  /** Σ counter energy over intervals where integrated power was also available… */
  readonly comparedCounterMicroJoules: DecimalString;
  /** …and Σ (counter − integrated) over the same intervals. */
  readonly residualMicroJoules: SignedDecimalString;
  readonly wrapCount: number;
  readonly discontinuities: readonly WireDiscontinuity[];
  readonly gapCount: number;
  readonly gapNanos: DecimalString;
  /** At most 32 gaps are listed; `gapCount` counts them all. */
  readonly gaps: readonly WireGap[];
  readonly intervalCount: number;
  readonly powerSampleCount: number;
  readonly peakPowerMilliWatts: number | null;
  /**
   * The time inside the batch's span that the counted energy covers: each counted interval's part
   * inside the window, plus the downtime the first batch after a restart bridges. Never more than
   * the span, (endMonoNanos − startMonoNanos) + downtimeNanos.
   */
  readonly coveredNanos: DecimalString;
  /**
   * Null when the device measured something in this window. Otherwise the device is unmeasured
   * here (nothing covered, `energyMicroJoules` "0" is no measurement, only the absence of one) and
   * this says why: the reason of its last gap (`no-data`, `device-lost`, `probe-timeout`, …), or
   * `no-reading` when no interval of it reached the window.
   */
  readonly unmeasuredReason: string | null;
  readonly attribution: WireAttribution;
}

export interface WireTotals {
  /** Σ energy of the additive devices. */
  readonly energyMicroJoules: DecimalString;
  readonly gpuEnergyMicroJoules: DecimalString;
  readonly cpuEnergyMicroJoules: DecimalString;
  readonly dramEnergyMicroJoules: DecimalString;
}

export interface WireRequests {
  readonly count: number;
  /** RFC 9162 root (hex) over the canonical JSON bytes of the request records, in order. */
  readonly merkleRootSha256: string;
  /**
   * Name and parameters of the attribution method (e.g. `tokens-v1(a=1,b=4,idle=configured)`); `none`
   * when the agent attributes nothing.
   */
  readonly attributionMethod: string;
}

/** A key announced by this batch (rotation): trusted from this batch on, if this batch verifies. */
export interface WireKeyAnnouncement {
  readonly kind: 'key-announcement';
  readonly keyId: string;
  readonly publicKeyBase64: string;
  readonly validFrom: string;
}

export interface WireAgentStart {
  readonly kind: 'agent-start';
  readonly startedAt: string;
  /** `resumed`: the chain continues from an earlier batch; `genesis`: first batch of this ledger. */
  readonly chain: 'genesis' | 'resumed';
}

export type WireEvent = WireKeyAnnouncement | WireAgentStart;

export interface BatchPredicate {
  readonly formatVersion: 1;
  /** Log identity (C2SP origin): `wattledger/<hostId>`; constant for a ledger. */
  readonly origin: string;
  readonly sequence: DecimalString;
  /** SHA-256 (hex) of the previous batch's payload bytes; null only for sequence 0. */
  readonly previousSha256: string | null;
  readonly agent: WireAgent;
  readonly window: WireWindow;
  readonly devices: readonly WireDevice[];
  readonly totals: WireTotals;
  readonly requests: WireRequests;
  /** Carbon/water factor snapshot; null until factors are configured. */
  readonly factors: Readonly<Record<string, unknown>> | null;
  readonly events: readonly WireEvent[];
  /** True when any device is simulated: such a batch measures nothing real. */
  readonly simulated: boolean;
}

export interface BatchStatement {
  readonly _type: typeof STATEMENT_TYPE;
  readonly subject: readonly [{ readonly name: string; readonly digest: { readonly sha256: string } }];
  readonly predicateType: typeof BATCH_PREDICATE_TYPE;
  readonly predicate: BatchPredicate;
}
