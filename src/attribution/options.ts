import type { EngineSpec } from '../requests/types.js';
import { type MilliWatts, NANOS_PER_SECOND } from '../units.js';
import type { CostFitOptions } from './cost-fit.js';
import { AttributionError } from './errors.js';
import type { IntervalAllocation, RequestEnergyRecord } from './types.js';
import { configuredIdleBaseline, type IdleBaseline } from './types.js';

/** Default a (prefill) and b (decode) per-token cost weights, to be replaced by fitted values. */
export const DEFAULT_PREFILL_WEIGHT = 1;
export const DEFAULT_DECODE_WEIGHT = 4;
/** How long an interval may wait for its requests to end before it is split by time (60 s). */
export const DEFAULT_MAX_DELAY_NANOS = 60n * NANOS_PER_SECOND;

/** Options of the `Attributor`. */
export interface AttributorOptions {
  /** Engines and their GPUs; a GPU's energy goes to its engine's requests. */
  readonly engines: readonly EngineSpec[];
  /** Additive host devices (RAPL package, DRAM), shared by every request on the host. */
  readonly hostDeviceIds: readonly string[];
  /** Configured idle power per device, integer mW; devices not listed have no idle share. */
  readonly idlePowerMilliWatts: ReadonlyMap<string, MilliWatts>;
  /**
   * Enforced power limit per device, integer mW (from the probe): no request takes more of a device
   * than its limit × the request's in-flight time. Devices not listed are bounded by each
   * interval's average power × in-flight time instead.
   */
  readonly powerLimitMilliWatts?: ReadonlyMap<string, MilliWatts>;
  /** Replaces the configured map, e.g. by a `LearnedIdleBaseline` built on it. */
  readonly idleBaseline?: IdleBaseline;
  /**
   * Per-token cost weights a (uncached prefill token) and b (decode token): non-negative integers,
   * not both 0. Defaults 1 and 4 are placeholders until fitted by regressing interval energy on
   * per-interval prefill and decode tokens (research §4.2, Wilkins et al. 2024).
   */
  readonly prefillWeight?: number;
  readonly decodeWeight?: number;
  /**
   * `configured` (default): the split weights are a·prefill + b·decode with the weights above.
   * `fitted`: per-model costs fitted online from the measured intervals (`cost-fit.ts`), the
   * configured a:b the prior until a model's costs are confident.
   */
  readonly costModel?: 'configured' | 'fitted';
  readonly costFit?: CostFitOptions;
  /** Name recorded in records and batches; default `tokens-v1(a=…,b=…,idle=<baseline description>)`. */
  readonly method?: string;
  /** Longest wait for an interval's requests to end; then time overlap, `estimated` (default 60 s). */
  readonly maxDelayNanos?: bigint;
  /** Shortest wait before splitting, for late events (OTLP spans arrive at the end); default 0. */
  readonly minDelayNanos?: bigint;
  /** Bound on open requests (see `RequestTracker`). */
  readonly maxInFlight?: number;
  /** Every finalized interval split, in order per device (for the ledger's per-batch sums). */
  readonly onAllocation?: (allocation: IntervalAllocation) => void;
  /** Every finished request's record. */
  readonly onRecord?: (record: RequestEnergyRecord) => void;
}

/** Options after defaults and checks. */
export interface ResolvedOptions {
  readonly engineOfDevice: ReadonlyMap<string, EngineSpec>;
  readonly engines: ReadonlyMap<string, EngineSpec>;
  readonly hostDeviceIds: readonly string[];
  readonly hosts: ReadonlySet<string>;
  readonly idleBaseline: IdleBaseline;
  readonly powerLimits: ReadonlyMap<string, MilliWatts>;
  readonly prefillWeight: bigint;
  readonly decodeWeight: bigint;
  readonly costModel: 'configured' | 'fitted';
  readonly costFit: CostFitOptions;
  readonly method: string;
  readonly maxDelayNanos: bigint;
  readonly minDelayNanos: bigint;
  readonly maxInFlight: number | undefined;
  readonly onAllocation: (allocation: IntervalAllocation) => void;
  readonly onRecord: (record: RequestEnergyRecord) => void;
}

/** Applies defaults; throws `ATTRIBUTION_INVALID_OPTIONS` listing every contradiction. */
export function resolveOptions(options: AttributorOptions): ResolvedOptions {
  const problems: string[] = [];
  const a = options.prefillWeight ?? DEFAULT_PREFILL_WEIGHT;
  const b = options.decodeWeight ?? DEFAULT_DECODE_WEIGHT;
  const maxDelayNanos = options.maxDelayNanos ?? DEFAULT_MAX_DELAY_NANOS;
  const minDelayNanos = options.minDelayNanos ?? 0n;
  checkNumbers(options, { a, b, maxDelayNanos, minDelayNanos }, problems);
  const { engines, engineOfDevice, hosts } = mapDevices(options, problems);
  if (problems.length > 0) {
    throw new AttributionError(
      'ATTRIBUTION_INVALID_OPTIONS',
      `invalid attribution options: ${problems.join('; ')}`,
    );
  }
  const idleBaseline = options.idleBaseline ?? configuredIdleBaseline(options.idlePowerMilliWatts);
  return {
    engineOfDevice,
    engines,
    hostDeviceIds: [...hosts],
    hosts,
    idleBaseline,
    powerLimits: options.powerLimitMilliWatts ?? new Map(),
    prefillWeight: BigInt(a),
    decodeWeight: BigInt(b),
    costModel: options.costModel ?? 'configured',
    costFit: options.costFit ?? {},
    method:
      options.method ??
      `tokens-v1(a=${a},b=${b},${options.costModel === 'fitted' ? 'costs=fitted(nnls),' : ''}idle=${idleBaseline.description})`,
    maxDelayNanos,
    minDelayNanos,
    maxInFlight: options.maxInFlight,
    onAllocation: options.onAllocation ?? (() => {}),
    onRecord: options.onRecord ?? (() => {}),
  };
}

/** Weights are integers ≥ 0 and not both 0, delays ordered, idle powers integer mW ≥ 0. */
function checkNumbers(
  options: AttributorOptions,
  n: { a: number; b: number; maxDelayNanos: bigint; minDelayNanos: bigint },
  problems: string[],
): void {
  for (const [name, weight] of [
    ['prefillWeight', n.a],
    ['decodeWeight', n.b],
  ] as const) {
    if (!Number.isSafeInteger(weight) || weight < 0)
      problems.push(`${name} must be an integer ≥ 0, got ${weight}`);
  }
  if (n.a === 0 && n.b === 0) problems.push('prefillWeight and decodeWeight cannot both be 0');
  if (n.minDelayNanos < 0n || n.maxDelayNanos < n.minDelayNanos) {
    problems.push(`need 0 ≤ minDelayNanos (${n.minDelayNanos}) ≤ maxDelayNanos (${n.maxDelayNanos})`);
  }
  for (const [deviceId, mw] of options.idlePowerMilliWatts) {
    if (!Number.isSafeInteger(mw) || mw < 0)
      problems.push(`idle power of ${deviceId} must be integer mW ≥ 0`);
  }
  for (const [deviceId, mw] of options.powerLimitMilliWatts ?? []) {
    if (!Number.isSafeInteger(mw) || mw <= 0)
      problems.push(`power limit of ${deviceId} must be integer mW > 0`);
  }
}

/** A device belongs to at most one engine, and a host device to none. */
function mapDevices(options: AttributorOptions, problems: string[]) {
  const engines = new Map<string, EngineSpec>();
  const engineOfDevice = new Map<string, EngineSpec>();
  const hosts = new Set(options.hostDeviceIds);
  for (const engine of options.engines) {
    if (engines.has(engine.engineId)) problems.push(`engine ${engine.engineId} is listed twice`);
    engines.set(engine.engineId, engine);
    for (const deviceId of engine.deviceIds) {
      const owner = engineOfDevice.get(deviceId);
      if (owner) problems.push(`device ${deviceId} is in engines ${owner.engineId} and ${engine.engineId}`);
      if (hosts.has(deviceId))
        problems.push(`device ${deviceId} is both a GPU of ${engine.engineId} and a host device`);
      engineOfDevice.set(deviceId, engine);
    }
  }
  return { engines, engineOfDevice, hosts };
}
