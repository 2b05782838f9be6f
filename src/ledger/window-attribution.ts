import type { IdleBaselineUse, IntervalAllocation } from '../attribution/types.js';
import type { MicroJoules, MilliWatts, MonoNanos } from '../units.js';
import type { DeviceWindow } from './window.js';

/**
 * Intervals of earlier windows still waiting for their allocation, per device. The attributor
 * finalizes every interval within its max delay (60 s by default: 600 intervals at 100 ms), so
 * this bound is only reached when allocations stop coming; the oldest are then forgotten and
 * their energy stays outstanding for good, which is the honest account of it.
 */
export const MAX_PENDING_INTERVALS_PER_DEVICE = 10_000;
/** Allocations that arrived before the batcher saw their interval, kept at most (all devices). */
const MAX_EARLY_ALLOCATIONS = 10_000;

/** The three parts of allocations, summed (µJ), and how much of the idle part went to requests. */
export interface AllocationSums {
  requestsMicroJoules: MicroJoules;
  idleMicroJoules: MicroJoules;
  unattributedMicroJoules: MicroJoules;
  /** Σ idle shares given to requests (≤ idle; the rest is idle of intervals with no request). */
  idleSharedMicroJoules: MicroJoules;
}

/**
 * The idle baselines the splits reported in one window subtracted: the last one's provenance and
 * power, and the range of powers over all of them.
 */
export interface IdleBaselineSummary {
  readonly last: IdleBaselineUse;
  readonly minPowerMilliWatts: MilliWatts;
  readonly maxPowerMilliWatts: MilliWatts;
}

/** One device's attribution account in one sealed batch: the wire `attribution`, in bigint. */
export interface DeviceAttribution {
  /** Allocations of this batch's intervals finalized before the seal (+ downtime energy). */
  readonly fresh: AllocationSums;
  /** This batch's energy whose intervals were not finalized yet. */
  readonly deferredMicroJoules: MicroJoules;
  /** Allocations finalized in this window for intervals of earlier batches. */
  readonly resolved: AllocationSums;
  /** Previous outstanding + deferred − Σ resolved. */
  readonly outstandingDeferredMicroJoules: MicroJoules;
  /** The idle baselines of the fresh and resolved splits; null when there were none. */
  readonly idleBaseline: IdleBaselineSummary | null;
}

/** What attribution carries from one window to the next (`outstanding` also across restarts). */
export interface AttributionCarry {
  /** Devices whose energy the attributor splits; every other device's energy is `unattributed`. */
  readonly deviceIds: ReadonlySet<string>;
  /** Each device's outstanding deferred energy at the end of the previous batch. */
  readonly outstanding: ReadonlyMap<string, MicroJoules>;
  /** Counted intervals of earlier windows not allocated yet: device → interval end → energy. */
  readonly earlier: ReadonlyMap<string, ReadonlyMap<MonoNanos, MicroJoules>>;
  /** End of the last interval counted per device in this run. */
  readonly lastCountedEnds: ReadonlyMap<string, MonoNanos>;
  /** Allocations whose interval the batcher has not counted yet. */
  readonly early: readonly IntervalAllocation[];
}

/** The carry of a run's first window: only the outstanding balances survive a restart. */
export function startCarry(
  deviceIds: ReadonlySet<string>,
  outstanding: ReadonlyMap<string, MicroJoules>,
): AttributionCarry {
  return { deviceIds, outstanding, earlier: new Map(), lastCountedEnds: new Map(), early: [] };
}

/**
 * One window's attribution account. An allocation is matched to the interval it splits by device,
 * interval end and energy: an interval counted by this window makes it fresh; one counted by an
 * earlier window and still pending makes it resolved. Matching (rather than "not this window, so
 * earlier") keeps the outstanding balance from going negative on an allocation the ledger never
 * counted, and lets an allocation that arrives before its meter tick reached the batcher (the
 * attributor subscribed first) wait here for its interval instead of being booked as resolved.
 */
export class WindowAttribution {
  /** Allocations that matched no interval (a wiring bug, or intervals the batcher never saw). */
  unmatched = 0;
  private readonly carry: AttributionCarry;
  private readonly current = new Map<string, Map<MonoNanos, MicroJoules>>();
  private readonly earlier = new Map<string, Map<MonoNanos, MicroJoules>>();
  private readonly lastEnds: Map<string, MonoNanos>;
  private readonly early = new Map<string, IntervalAllocation>();
  private readonly fresh = new Map<string, AllocationSums>();
  private readonly resolved = new Map<string, AllocationSums>();
  private readonly baselines = new Map<string, IdleBaselineSummary>();

  constructor(carry: AttributionCarry) {
    this.carry = carry;
    for (const [deviceId, pending] of carry.earlier) this.earlier.set(deviceId, new Map(pending));
    this.lastEnds = new Map(carry.lastCountedEnds);
    for (const allocation of carry.early) this.early.set(keyOf(allocation), allocation);
  }

  /** An interval this window counted (its energy is not null). */
  counted(deviceId: string, endMonoNanos: MonoNanos, energy: MicroJoules): void {
    if (!this.carry.deviceIds.has(deviceId)) return;
    mapOf(this.current, deviceId).set(endMonoNanos, energy);
    this.lastEnds.set(deviceId, endMonoNanos);
    const key = `${deviceId}|${endMonoNanos}`;
    const waiting = this.early.get(key);
    if (waiting) {
      this.early.delete(key);
      this.allocate(waiting);
    }
  }

  /** An allocation from the attributor; devices it does not cover are ignored (all unattributed). */
  allocate(allocation: IntervalAllocation): void {
    const deviceId = allocation.deviceId;
    if (!this.carry.deviceIds.has(deviceId)) return;
    const end = allocation.intervalEndMonoNanos;
    const energy = allocation.energyMicroJoules;
    if (take(this.current.get(deviceId), end, energy)) this.book(this.fresh, allocation);
    else if (take(this.earlier.get(deviceId), end, energy)) this.book(this.resolved, allocation);
    else if (end > (this.lastEnds.get(deviceId) ?? -1n) && this.early.size < MAX_EARLY_ALLOCATIONS)
      this.early.set(keyOf(allocation), allocation);
    else this.unmatched += 1;
  }

  private book(sums: Map<string, AllocationSums>, allocation: IntervalAllocation): void {
    addTo(mapOfSums(sums, allocation.deviceId), allocation);
    const use = allocation.idleBaseline;
    const seen = this.baselines.get(allocation.deviceId);
    const power = use.powerMilliWatts;
    this.baselines.set(allocation.deviceId, {
      last: use,
      minPowerMilliWatts: seen ? Math.min(seen.minPowerMilliWatts, power) : power,
      maxPowerMilliWatts: seen ? Math.max(seen.maxPowerMilliWatts, power) : power,
    });
  }

  /** Closes the window: every device's account, and what the next window starts from. */
  close(windows: readonly DeviceWindow[]): {
    accounts: Map<string, DeviceAttribution>;
    next: AttributionCarry;
  } {
    const accounts = new Map<string, DeviceAttribution>();
    const outstanding = new Map<string, MicroJoules>();
    for (const window of windows) {
      const account = this.accountOf(window);
      accounts.set(window.device.id, account);
      outstanding.set(window.device.id, account.outstandingDeferredMicroJoules);
    }
    const early = [...this.early.values()].filter(
      (a) => a.intervalEndMonoNanos > (this.lastEnds.get(a.deviceId) ?? -1n),
    );
    this.unmatched += this.early.size - early.length;
    const next = {
      deviceIds: this.carry.deviceIds,
      outstanding,
      earlier: this.pendingAfterClose(),
      lastCountedEnds: this.lastEnds,
      early,
    };
    return { accounts, next };
  }

  private accountOf(window: DeviceWindow): DeviceAttribution {
    const id = window.device.id;
    const before = this.carry.outstanding.get(id) ?? 0n;
    if (!this.carry.deviceIds.has(id)) {
      const fresh = { ...zeroSums(), unattributedMicroJoules: window.energyMicroJoules };
      return {
        fresh,
        deferredMicroJoules: 0n,
        resolved: zeroSums(),
        outstandingDeferredMicroJoules: before,
        idleBaseline: null,
      };
    }
    const fresh = { ...(this.fresh.get(id) ?? zeroSums()) };
    // Downtime energy has no interval, so no allocation will ever come for it.
    fresh.unattributedMicroJoules += window.downtimeEnergyMicroJoules;
    let deferred = 0n;
    for (const energy of this.current.get(id)?.values() ?? []) deferred += energy;
    const resolved = this.resolved.get(id) ?? zeroSums();
    const outstanding = before + deferred - totalOf(resolved);
    return {
      fresh,
      deferredMicroJoules: deferred,
      resolved,
      outstandingDeferredMicroJoules: outstanding,
      idleBaseline: this.baselines.get(id) ?? null,
    };
  }

  /** Earlier pending intervals followed by this window's, oldest first, bounded per device. */
  private pendingAfterClose(): Map<string, Map<MonoNanos, MicroJoules>> {
    const next = new Map<string, Map<MonoNanos, MicroJoules>>();
    for (const deviceId of this.carry.deviceIds) {
      const pending = new Map([...(this.earlier.get(deviceId) ?? []), ...(this.current.get(deviceId) ?? [])]);
      for (const end of pending.keys()) {
        if (pending.size <= MAX_PENDING_INTERVALS_PER_DEVICE) break;
        pending.delete(end);
      }
      if (pending.size > 0) next.set(deviceId, pending);
    }
    return next;
  }
}

export function zeroSums(): AllocationSums {
  return {
    requestsMicroJoules: 0n,
    idleMicroJoules: 0n,
    unattributedMicroJoules: 0n,
    idleSharedMicroJoules: 0n,
  };
}

/** requests + idle + unattributed. */
export function totalOf(sums: AllocationSums): MicroJoules {
  return sums.requestsMicroJoules + sums.idleMicroJoules + sums.unattributedMicroJoules;
}

function keyOf(allocation: IntervalAllocation): string {
  return `${allocation.deviceId}|${allocation.intervalEndMonoNanos}`;
}

/** Removes a pending interval if this allocation splits it (same end, same energy). */
function take(
  pending: Map<MonoNanos, MicroJoules> | undefined,
  end: MonoNanos,
  energy: MicroJoules,
): boolean {
  if (pending?.get(end) !== energy) return false;
  pending.delete(end);
  return true;
}

function addTo(sums: AllocationSums, allocation: IntervalAllocation): void {
  sums.requestsMicroJoules += allocation.requestsMicroJoules;
  sums.idleMicroJoules += allocation.idleMicroJoules;
  sums.unattributedMicroJoules += allocation.unattributedMicroJoules;
  sums.idleSharedMicroJoules += allocation.idleSharedMicroJoules;
}

function mapOf<V>(maps: Map<string, Map<MonoNanos, V>>, deviceId: string): Map<MonoNanos, V> {
  let map = maps.get(deviceId);
  if (!map) {
    map = new Map();
    maps.set(deviceId, map);
  }
  return map;
}

function mapOfSums(maps: Map<string, AllocationSums>, deviceId: string): AllocationSums {
  let sums = maps.get(deviceId);
  if (!sums) {
    sums = zeroSums();
    maps.set(deviceId, sums);
  }
  return sums;
}
