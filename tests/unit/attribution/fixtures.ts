import { Attributor } from '../../../src/attribution/attributor.js';
import type { AttributorOptions } from '../../../src/attribution/options.js';
import type { IntervalAllocation, RequestEnergyRecord } from '../../../src/attribution/types.js';
import type {
  RequestEndEvent,
  RequestProgressEvent,
  RequestStartEvent,
  RequestUsage,
} from '../../../src/requests/types.js';

/** Monotonic time 0 corresponds to this wall time (2025-01-01T00:00:00Z). */
export const EPOCH_UNIX_NANOS = 1_735_689_600_000_000_000n;
export const MS = 1_000_000n;
export const S = 1_000_000_000n;

/** mulberry32: a small seeded PRNG, so that property tests are reproducible without a dependency. */
export function seeded(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  /** Integer in [0, max). */
  const int = (max: number): number => Math.floor(next() * max);
  /** bigint in [0, 2^bits). */
  const big = (bits: number): bigint => {
    let value = 0n;
    for (let have = 0; have < bits; have += 30) value = (value << 30n) | BigInt(int(2 ** 30));
    return value & ((1n << BigInt(bits)) - 1n);
  };
  return { next, int, big };
}

export { interval } from '../../helpers/device-interval.js';

export function start(requestId: string, engineId: string, t: bigint, model = 'm'): RequestStartEvent {
  return {
    type: 'start',
    requestId,
    source: 'proxy',
    engineId,
    model,
    operation: 'chat',
    monoNanos: t,
    unixNanos: EPOCH_UNIX_NANOS + t,
  };
}

export function progress(
  requestId: string,
  t: bigint,
  outputTokens: number,
  estimated = false,
): RequestProgressEvent {
  return { type: 'progress', requestId, monoNanos: t, outputTokens, estimated };
}

export function usage(inputTokens: number, outputTokens: number, cachedInputTokens = 0): RequestUsage {
  return { inputTokens, cachedInputTokens, outputTokens };
}

export function end(
  requestId: string,
  t: bigint,
  tokens?: RequestUsage,
  outcome: RequestEndEvent['outcome'] = 'ok',
): RequestEndEvent {
  return {
    type: 'end',
    requestId,
    monoNanos: t,
    unixNanos: EPOCH_UNIX_NANOS + t,
    outcome,
    ...(tokens ? { usage: tokens } : {}),
  };
}

/** An attributor whose callbacks collect into arrays. */
export function collecting(options: Omit<AttributorOptions, 'onAllocation' | 'onRecord'>): {
  attributor: Attributor;
  allocations: IntervalAllocation[];
  records: RequestEnergyRecord[];
} {
  const allocations: IntervalAllocation[] = [];
  const records: RequestEnergyRecord[] = [];
  const attributor = new Attributor({
    ...options,
    onAllocation: (a) => allocations.push(a),
    onRecord: (r) => records.push(r),
  });
  return { attributor, allocations, records };
}

/**
 * Σ shares + idle + unattributed == energy and Σ idle shares + unshared idle == idle for every
 * allocation; returns per-part totals.
 */
export function checkConservation(allocations: readonly IntervalAllocation[]) {
  const totals = { energy: 0n, idle: 0n, unattributed: 0n, requests: 0n, idleShared: 0n };
  for (const a of allocations) {
    let idleShared = 0n;
    for (const share of a.idleShares) {
      if (share.microJoules <= 0n) throw new Error(`non-positive idle share in ${a.deviceId}`);
      idleShared += share.microJoules;
    }
    if (idleShared !== a.idleSharedMicroJoules)
      throw new Error(`Σ idle shares != idle shared on ${a.deviceId}`);
    if (idleShared > a.idleMicroJoules) throw new Error(`idle shared > idle on ${a.deviceId}`);
    if (a.weighting === 'none' && idleShared > 0n)
      throw new Error(`idle shared without requests on ${a.deviceId}`);
    totals.idleShared += idleShared;
    let shares = 0n;
    for (const share of a.shares) {
      if (share.microJoules <= 0n) throw new Error(`non-positive share in ${a.deviceId}`);
      shares += share.microJoules;
    }
    if (shares !== a.requestsMicroJoules) throw new Error(`Σ shares != requests on ${a.deviceId}`);
    if (shares + a.idleMicroJoules + a.unattributedMicroJoules !== a.energyMicroJoules) {
      throw new Error(`conservation broken on ${a.deviceId} at ${a.intervalEndMonoNanos}`);
    }
    if (a.idleMicroJoules < 0n || a.unattributedMicroJoules < 0n) throw new Error('negative part');
    totals.energy += a.energyMicroJoules;
    totals.idle += a.idleMicroJoules;
    totals.unattributed += a.unattributedMicroJoules;
    totals.requests += shares;
  }
  return totals;
}

/** Σ of the per-device energies of the records. */
export function recordEnergy(records: readonly RequestEnergyRecord[]): bigint {
  let sum = 0n;
  for (const record of records) for (const device of record.devices) sum += BigInt(device.microJoules);
  return sum;
}

/** Σ of the records' idle shares, each checked against the Σ of its devices' idle shares. */
export function recordIdleShare(records: readonly RequestEnergyRecord[]): bigint {
  let sum = 0n;
  for (const record of records) {
    let perDevice = 0n;
    for (const device of record.devices) perDevice += BigInt(device.idleShareMicroJoules);
    if (perDevice !== BigInt(record.idleShareMicroJoules))
      throw new Error(`record ${record.requestId}: idle share != Σ of its devices' idle shares`);
    sum += perDevice;
  }
  return sum;
}
