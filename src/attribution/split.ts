import type { DeviceInterval } from '../meter/types.js';
import { energyFromConstantPower, type MicroJoules } from '../units.js';
import { allocate, minBigint, sumBigints } from './allocate.js';
import { AttributionError } from './errors.js';
import type {
  AllocationWeighting,
  DeviceRole,
  IdleBaselineUse,
  IntervalAllocation,
  IntervalWork,
  RequestShare,
} from './types.js';

/** Everything needed to split one device interval. */
export interface SplitInput {
  readonly interval: DeviceInterval & { readonly energyMicroJoules: MicroJoules };
  readonly role: DeviceRole;
  readonly engineId: string | null;
  /** The idle power to subtract and its provenance. */
  readonly idleBaseline: IdleBaselineUse;
  /** The overlapping requests' work, in tracker order. */
  readonly works: readonly IntervalWork[];
  /** Per-token cost weights a (prefill) and b (decode). */
  readonly prefillWeight: bigint;
  readonly decodeWeight: bigint;
}

/**
 * Splits one device interval's energy: idle = min(energy, idle power × dt), the rest (active) over
 * the overlapping requests by a·prefill + b·decode, by time overlap where tokens are unknown or all
 * zero, and to `unattributed` where no request overlaps. The idle part is split over the same
 * requests with the same weights (each request's idle share); with no request in flight it stays
 * unshared. Exact: throws `ATTRIBUTION_CONSERVATION_VIOLATED` if the parts do not add up (a bug).
 */
export function splitInterval(input: SplitInput): IntervalAllocation {
  const { interval } = input;
  const energy = interval.energyMicroJoules;
  const dt = interval.endMonoNanos - interval.startMonoNanos;
  const baseline = energyFromConstantPower(input.idleBaseline.powerMilliWatts, dt > 0n ? dt : 0n);
  // Idle never exceeds what was measured: below the baseline, all of it is idle.
  const idle = minBigint(energy, baseline);
  const active = energy - idle;
  const { weights, weighting } = chooseWeights(input);
  const shares = sharesOf(input.works, weighting === 'none' ? [] : allocate(active, weights));
  const idleShares = sharesOf(input.works, weighting === 'none' ? [] : allocate(idle, weights));
  const requests = sumBigints(shares.map((share) => share.microJoules));
  const allocation: IntervalAllocation = {
    deviceId: interval.deviceId,
    role: input.role,
    engineId: input.engineId,
    intervalStartMonoNanos: interval.startMonoNanos,
    intervalEndMonoNanos: interval.endMonoNanos,
    energyMicroJoules: energy,
    idleMicroJoules: idle,
    requestsMicroJoules: requests,
    unattributedMicroJoules: active - requests,
    shares,
    idleShares,
    idleSharedMicroJoules: sumBigints(idleShares.map((share) => share.microJoules)),
    idleBaseline: input.idleBaseline,
    weighting,
    estimated: weighting !== 'none' && input.works.some((work) => work.tokens !== 'known'),
  };
  assertConserved(allocation);
  return allocation;
}

/** The non-zero amounts, paired with their requests. */
function sharesOf(works: readonly IntervalWork[], amounts: readonly bigint[]): RequestShare[] {
  const shares: RequestShare[] = [];
  amounts.forEach((microJoules, i) => {
    if (microJoules > 0n)
      shares.push({ requestId: (works[i] as IntervalWork).request.requestId, microJoules });
  });
  return shares;
}

/**
 * Token weights when every request's tokens are at least partly known; time overlap when one is
 * unknown (an open request at the max delay): token work and nanoseconds cannot be mixed in one
 * split, so the whole interval falls back together.
 */
function chooseWeights(input: SplitInput): { weights: bigint[]; weighting: AllocationWeighting } {
  const { works } = input;
  if (works.length === 0) return { weights: [], weighting: 'none' };
  if (works.every((work) => work.tokens !== 'unknown')) {
    const weights = works.map(
      (work) => input.prefillWeight * work.prefillMilliTokens + input.decodeWeight * work.decodeMilliTokens,
    );
    if (sumBigints(weights) > 0n) return { weights, weighting: 'tokens' };
  }
  const weights = works.map((work) => work.overlapNanos);
  return sumBigints(weights) > 0n ? { weights, weighting: 'time' } : { weights: [], weighting: 'none' };
}

/**
 * The conservation invariants: Σ shares + idle + unattributed = energy, Σ idle shares + unshared
 * idle = idle, no part negative.
 */
export function assertConserved(allocation: IntervalAllocation): void {
  const shares = sumBigints(allocation.shares.map((share) => share.microJoules));
  const idleShared = sumBigints(allocation.idleShares.map((share) => share.microJoules));
  const parts = [allocation.idleMicroJoules, allocation.unattributedMicroJoules, shares];
  if (
    shares !== allocation.requestsMicroJoules ||
    sumBigints(parts) !== allocation.energyMicroJoules ||
    parts.some((part) => part < 0n) ||
    idleShared !== allocation.idleSharedMicroJoules ||
    idleShared > allocation.idleMicroJoules
  ) {
    throw new AttributionError(
      'ATTRIBUTION_CONSERVATION_VIOLATED',
      `device ${allocation.deviceId} interval ending ${allocation.intervalEndMonoNanos}: shares ${shares} + idle ${allocation.idleMicroJoules} (shared ${idleShared}) + unattributed ${allocation.unattributedMicroJoules} != energy ${allocation.energyMicroJoules}`,
    );
  }
}
