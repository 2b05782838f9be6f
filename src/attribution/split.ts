import type { DeviceInterval } from '../meter/types.js';
import { energyFromConstantPower, type MicroJoules, type MilliWatts } from '../units.js';
import { allocate, minBigint, sumBigints } from './allocate.js';
import { AttributionError } from './errors.js';
import type {
  AllocationWeighting,
  DeviceRole,
  IntervalAllocation,
  IntervalWork,
  RequestShare,
} from './types.js';

/** Everything needed to split one device interval. */
export interface SplitInput {
  readonly interval: DeviceInterval & { readonly energyMicroJoules: MicroJoules };
  readonly role: DeviceRole;
  readonly engineId: string | null;
  readonly idleMilliWatts: MilliWatts;
  /** The overlapping requests' work, in tracker order. */
  readonly works: readonly IntervalWork[];
  /** Per-token cost weights a (prefill) and b (decode). */
  readonly prefillWeight: bigint;
  readonly decodeWeight: bigint;
}

/**
 * Splits one device interval's energy: idle = min(energy, idle power × dt), the rest (active) over
 * the overlapping requests by a·prefill + b·decode, by time overlap where tokens are unknown or all
 * zero, and to `unattributed` where no request overlaps. Exact: throws
 * `ATTRIBUTION_CONSERVATION_VIOLATED` if the parts do not add up (a bug).
 */
export function splitInterval(input: SplitInput): IntervalAllocation {
  const { interval } = input;
  const energy = interval.energyMicroJoules;
  const dt = interval.endMonoNanos - interval.startMonoNanos;
  const baseline = energyFromConstantPower(input.idleMilliWatts, dt > 0n ? dt : 0n);
  // Idle never exceeds what was measured: below the baseline, all of it is idle.
  const idle = minBigint(energy, baseline);
  const active = energy - idle;
  const { weights, weighting } = chooseWeights(input);
  const amounts = weighting === 'none' ? [] : allocate(active, weights);
  const shares: RequestShare[] = [];
  amounts.forEach((microJoules, i) => {
    if (microJoules > 0n)
      shares.push({ requestId: (input.works[i] as IntervalWork).request.requestId, microJoules });
  });
  const requests = sumBigints(amounts);
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
    weighting,
    estimated: weighting !== 'none' && input.works.some((work) => work.tokens !== 'known'),
  };
  assertConserved(allocation);
  return allocation;
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

/** The conservation invariant: Σ shares + idle + unattributed = energy, no part negative. */
export function assertConserved(allocation: IntervalAllocation): void {
  const shares = sumBigints(allocation.shares.map((share) => share.microJoules));
  const parts = [allocation.idleMicroJoules, allocation.unattributedMicroJoules, shares];
  if (
    shares !== allocation.requestsMicroJoules ||
    sumBigints(parts) !== allocation.energyMicroJoules ||
    parts.some((part) => part < 0n)
  ) {
    throw new AttributionError(
      'ATTRIBUTION_CONSERVATION_VIOLATED',
      `device ${allocation.deviceId} interval ending ${allocation.intervalEndMonoNanos}: shares ${shares} + idle ${allocation.idleMicroJoules} + unattributed ${allocation.unattributedMicroJoules} != energy ${allocation.energyMicroJoules}`,
    );
  }
}
