import type { DeviceInterval } from '../meter/types.js';
import { energyFromConstantPower, type MicroJoules, type MilliWatts } from '../units.js';
import { allocate, allocateCapped, minBigint, sumBigints } from './allocate.js';
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
  /**
   * The device's enforced power limit (mW), when known: no request takes more of this device than
   * limit × its in-flight time in the interval. Unknown (`null`): no more than the interval's
   * average power × its in-flight time.
   */
  readonly powerLimitMilliWatts: MilliWatts | null;
  /**
   * Token weights fitted from measured intervals (`cost-fit.ts`), one per work of `works`; absent
   * or `null`: a·prefill + b·decode with the configured weights.
   */
  readonly fittedWeights?: readonly bigint[] | null;
}

/**
 * How a request takes part in a split. `excluded`: it never reached an engine (outcome
 * `unreached`), so it takes nothing. `error`: the server failed it: it takes the work its tokens
 * show, at most its time share. `time`: its tokens are unknown (open at the max delay, or ended with
 * neither usage nor a stream): it takes its time share. `tokens`: the rest, by a·prefill + b·decode.
 */
type Part = 'excluded' | 'error' | 'time' | 'tokens';

function partOf(work: IntervalWork): Part {
  const outcome = work.request.outcome;
  if (outcome === 'unreached') return 'excluded';
  if (outcome === 'error') return 'error';
  return work.tokens === 'unknown' ? 'time' : 'tokens';
}

/**
 * Splits one device interval's energy (DESIGN §4), with physical bounds by construction:
 *
 * - idle = min(energy, idle power × dt). Each request in flight takes an idle share of at most
 *   idle × its in-flight time / dt; where requests overlap, the idle part is split by in-flight time.
 *   What no request was in flight for stays unshared.
 * - active = energy − idle, split over the requests that reached the engine: those with unknown
 *   tokens take their time share (active × in-flight time / Σ in-flight time), the others share the
 *   rest by a·prefill + b·decode (server errors: the work their tokens show, at most their time
 *   share). With no token work at all, the active part is split by in-flight time over the requests
 *   that did not fail.
 * - No request takes more than its cap: power limit × its in-flight time (or, without a known
 *   limit, the interval's average power × its in-flight time), idle share included. What is over a
 *   cap goes to the others, and what none can take stays unattributed.
 *
 * Exact: throws `ATTRIBUTION_CONSERVATION_VIOLATED` if the parts do not add up (a bug).
 */
export function splitInterval(input: SplitInput): IntervalAllocation {
  const { interval } = input;
  const energy = interval.energyMicroJoules;
  const dtRaw = interval.endMonoNanos - interval.startMonoNanos;
  const dt = dtRaw > 0n ? dtRaw : 0n;
  const baseline = energyFromConstantPower(input.idleBaseline.powerMilliWatts, dt);
  // Idle never exceeds what was measured: below the baseline, all of it is idle.
  const idle = minBigint(energy, baseline);
  const active = energy - idle;
  const kept = input.works.map((work) => partOf(work) !== 'excluded');
  const works = input.works.filter((_, i) => kept[i]);
  const fitted = input.fittedWeights?.filter((_, i) => kept[i]) ?? null;
  const overlaps = works.map((work) => work.overlapNanos);
  const idleAmounts = idleSharesOf(idle, overlaps, dt);
  const caps = works.map((work, i) =>
    positive(capOf(input, energy, dt, work.overlapNanos) - (idleAmounts[i] as bigint)),
  );
  const { amounts, weighting } = activeSharesOf(input, works, active, caps, fitted);
  const shares = sharesOf(works, amounts);
  const idleShares = sharesOf(works, idleAmounts);
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
    // A bound that binds is not an estimate: the share is the most the request's time allows.
    estimated: weighting !== 'none' && works.some((work) => work.tokens !== 'known'),
  };
  assertConserved(allocation);
  return allocation;
}

function positive(value: bigint): bigint {
  return value > 0n ? value : 0n;
}

/** The most a request may take of this device in this interval (active + idle share). */
function capOf(input: SplitInput, energy: MicroJoules, dt: bigint, overlap: bigint): bigint {
  if (input.powerLimitMilliWatts !== null)
    return energyFromConstantPower(input.powerLimitMilliWatts, overlap);
  return dt === 0n ? 0n : (energy * overlap) / dt;
}

/**
 * Idle shares: each request at most idle × in-flight time / dt; when the requests' in-flight times
 * add up to more than the interval (they overlap), all of the idle part, split by in-flight time.
 */
function idleSharesOf(idle: bigint, overlaps: readonly bigint[], dt: bigint): bigint[] {
  if (idle === 0n || dt === 0n || overlaps.length === 0) return overlaps.map(() => 0n);
  const total = sumBigints(overlaps);
  if (total === 0n) return overlaps.map(() => 0n);
  if (total <= dt) return overlaps.map((o) => (idle * o) / dt);
  return allocate(idle, overlaps);
}

/** The active shares, how they were weighted, and whether a cap bound. */
function activeSharesOf(
  input: SplitInput,
  works: readonly IntervalWork[],
  active: bigint,
  caps: readonly bigint[],
  fitted: readonly bigint[] | null,
): { amounts: bigint[]; weighting: AllocationWeighting; capped: boolean } {
  const none = { amounts: works.map(() => 0n), weighting: 'none' as const, capped: false };
  if (works.length === 0) return none;
  const parts = works.map(partOf);
  const overlapTotal = sumBigints(works.map((work) => work.overlapNanos));
  const tokenWeights = works.map((work, i) =>
    parts[i] === 'time'
      ? 0n
      : fitted !== null
        ? (fitted[i] as bigint)
        : input.prefillWeight * work.prefillMilliTokens + input.decodeWeight * work.decodeMilliTokens,
  );
  const tokenTotal = sumBigints(tokenWeights);
  if (tokenTotal === 0n) {
    // No token work in the interval: by in-flight time, over the requests that did not fail.
    const weights = works.map((work, i) => (parts[i] === 'error' ? 0n : work.overlapNanos));
    // Only failed requests, and their tokens show no work: they take nothing, the rest stays.
    if (sumBigints(weights) === 0n) return { ...none, weighting: 'tokens' };
    const { shares, left } = allocateCapped(active, weights, caps);
    return { amounts: shares, weighting: 'time', capped: left > 0n };
  }
  // Requests of unknown tokens take their time share first; the token work shares the rest.
  const timeShare = (i: number) =>
    overlapTotal === 0n ? 0n : (active * (works[i] as IntervalWork).overlapNanos) / overlapTotal;
  const timeWeights = works.map((work, i) => (parts[i] === 'time' ? work.overlapNanos : 0n));
  const timeTotal = sumBigints(timeWeights);
  const timePool = overlapTotal === 0n ? 0n : (active * timeTotal) / overlapTotal;
  const timed =
    timeTotal === 0n
      ? { shares: works.map(() => 0n), left: 0n }
      : allocateCapped(timePool, timeWeights, caps);
  // Errors: at most their time share.
  const tokenCaps = caps.map((cap, i) => (parts[i] === 'error' ? minBigint(cap, timeShare(i)) : cap));
  const tokens = allocateCapped(active - timePool + timed.left, tokenWeights, tokenCaps);
  const amounts = works.map((_, i) => (timed.shares[i] as bigint) + (tokens.shares[i] as bigint));
  return {
    amounts,
    weighting: timeTotal === 0n ? 'tokens' : 'mixed',
    capped: timed.left > 0n || tokens.left > 0n,
  };
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
