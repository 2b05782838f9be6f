import { energyFromConstantPower, type MicroJoules, type MilliWatts, type MonoNanos } from '../units.js';

/** One request's prefill: `microJoules` of work spread uniformly over `[from, to]`. */
interface PrefillWork {
  readonly from: MonoNanos;
  readonly to: MonoNanos;
  readonly microJoules: MicroJoules;
}

/** What one simulated request has cost so far, split by phase. */
export interface RequestTruth {
  readonly prefillMicroJoules: MicroJoules;
  readonly decodeMicroJoules: MicroJoules;
  readonly outputTokens: number;
}

/**
 * The ground truth of a simulated node: every piece of work each request did, and the node's
 * cumulative energy as an exact function of time. Power at an instant is `idle + Σ work rates`:
 * prefill work is spread uniformly over its window, a decode token's cost lands at the instant
 * it was emitted. Energy is therefore
 *
 *   E(t) = ⌊idle × (t − origin)⌋ + Σ_prefill ⌊W × (t − from) / (to − from)⌋ (clamped) + Σ_tokens≤t b
 *
 * in integer µJ, non-decreasing, and each request's true active energy is exactly
 * `a × prompt tokens + b × output tokens`: known by construction, not measured.
 */
export class TruthLedger {
  /** Power of the idle GPU, integer mW. */
  readonly idleMilliWatts: MilliWatts;
  private readonly originNanos: MonoNanos;
  private readonly prefills: PrefillWork[] = [];
  /** Decode emissions in time order, with the cumulative decode energy after each one. */
  private readonly decodeTimes: MonoNanos[] = [];
  private readonly decodeCumulative: MicroJoules[] = [];
  private readonly requests = new Map<string, RequestTruth>();

  constructor(options: { readonly idleMilliWatts: MilliWatts; readonly originNanos: MonoNanos }) {
    this.idleMilliWatts = options.idleMilliWatts;
    this.originNanos = options.originNanos;
  }

  /** The instant the ledger's energy is 0. */
  get origin(): MonoNanos {
    return this.originNanos;
  }

  /** Records a request's prefill: `microJoules` spread uniformly over `[from, to]`. */
  addPrefill(requestId: string, from: MonoNanos, to: MonoNanos, microJoules: MicroJoules): void {
    if (to < from || microJoules < 0n) throw new RangeError(`bad prefill window for ${requestId}`);
    if (microJoules > 0n) this.prefills.push({ from, to, microJoules });
    const truth = this.truthOf(requestId);
    this.requests.set(requestId, {
      ...truth,
      prefillMicroJoules: truth.prefillMicroJoules + microJoules,
    });
  }

  /**
   * Records one decode token emitted at `at`. Emissions come in clock order; an earlier time (a
   * caller bug) is moved to the latest one so that the energy stays non-decreasing.
   */
  addDecodeToken(requestId: string, at: MonoNanos, microJoules: MicroJoules): void {
    const last = this.decodeTimes.at(-1);
    this.decodeTimes.push(last !== undefined && at < last ? last : at);
    this.decodeCumulative.push((this.decodeCumulative.at(-1) ?? 0n) + microJoules);
    const truth = this.truthOf(requestId);
    this.requests.set(requestId, {
      ...truth,
      decodeMicroJoules: truth.decodeMicroJoules + microJoules,
      outputTokens: truth.outputTokens + 1,
    });
  }

  /** A request's work so far; undefined for a request the node never saw. */
  request(requestId: string): RequestTruth | undefined {
    return this.requests.get(requestId);
  }

  /** A request's true active energy (prefill + decode), µJ; undefined when unknown. */
  activeMicroJoules(requestId: string): MicroJoules | undefined {
    const truth = this.requests.get(requestId);
    return truth === undefined ? undefined : truth.prefillMicroJoules + truth.decodeMicroJoules;
  }

  /** Cumulative energy (idle + active) from the origin to `t`, exact integer µJ. */
  energyAt(t: MonoNanos): MicroJoules {
    if (t <= this.originNanos) return 0n;
    let energy = energyFromConstantPower(this.idleMilliWatts, t - this.originNanos);
    for (const prefill of this.prefills) energy += prefillUpTo(prefill, t);
    return energy + this.decodeUpTo(t);
  }

  /** Active energy (everything but idle) from the origin to `t`. */
  activeEnergyAt(t: MonoNanos): MicroJoules {
    if (t <= this.originNanos) return 0n;
    return this.energyAt(t) - energyFromConstantPower(this.idleMilliWatts, t - this.originNanos);
  }

  private decodeUpTo(t: MonoNanos): MicroJoules {
    // Binary search for the number of emissions at or before t.
    let low = 0;
    let high = this.decodeTimes.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.decodeTimes[mid] as MonoNanos) <= t) low = mid + 1;
      else high = mid;
    }
    return low === 0 ? 0n : (this.decodeCumulative[low - 1] as MicroJoules);
  }

  private truthOf(requestId: string): RequestTruth {
    return this.requests.get(requestId) ?? { prefillMicroJoules: 0n, decodeMicroJoules: 0n, outputTokens: 0 };
  }
}

/** The part of a prefill done by `t`: a floor of a cumulative, so the parts telescope exactly. */
function prefillUpTo(prefill: PrefillWork, t: MonoNanos): MicroJoules {
  if (t < prefill.from) return 0n;
  if (t >= prefill.to) return prefill.microJoules;
  return (prefill.microJoules * (t - prefill.from)) / (prefill.to - prefill.from);
}
