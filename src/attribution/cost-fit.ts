import type { IntervalWork } from './types.js';

/**
 * Per-model cost weights fitted online from measured interval energies (DESIGN §4: "cost weights
 * may be fitted online from the measured intervals"). Each finalized interval of a GPU whose
 * requests' work is all known gives one observation: its active energy y (µJ, above the idle
 * baseline) against the work done in it, per model m: x[m·prefill] uncached prompt tokens,
 * x[m·decode] output tokens, and x[m·prefill-time] seconds of prefill of requests whose prompt size
 * the server never reported (streams without usage). The fit is non-negative least squares over
 * the recent intervals (exponentially forgotten, half-life `halfLifeIntervals`), solved by
 * coordinate descent on the normal equations. The fitted costs are model parameters, not
 * measurements: they only weight the integer split (conservation stays exact whatever they are).
 *
 * Confidence: a cost is used once its feature was present in at least `minIntervals` (10, forgotten
 * the same way) observations (the attributor feeds it intervals of counter energy only: integrated
 * power lags the work); an interval whose work includes a feature not yet confident is
 * weighted by the prior (the configured a:b), whole. Floating point lives here only, off the
 * signed path: the costs are rounded to integers (nJ per token, mW of prefill) before any split.
 */
export interface FittedCosts {
  /** nJ per uncached prompt token, per model. */
  readonly prefillNanoJoulesPerToken: ReadonlyMap<string, bigint>;
  /** nJ per output token, per model. */
  readonly decodeNanoJoulesPerToken: ReadonlyMap<string, bigint>;
  /** mW drawn per request prefilling a prompt of unknown size, per model. */
  readonly prefillMilliWatts: ReadonlyMap<string, bigint>;
  /** Observations behind the fit (forgotten: an effective count). */
  readonly observations: number;
}

/** Options of {@link CostFitter}. */
export interface CostFitOptions {
  /** Intervals after which an observation weighs half (default 600: one minute at 100 ms). */
  readonly halfLifeIntervals?: number;
  /** Effective observations of a feature before its cost is used (default 10). */
  readonly minIntervals?: number;
  /** Observations between two solves (default 10). */
  readonly solveEvery?: number;
  /**
   * Consecutive intervals summed into one observation (default 5): a token seen just after a meter
   * tick (the server's emit latency) is counted in the next interval while its energy is in this
   * one; over a window of several intervals only its ends are off.
   */
  readonly windowIntervals?: number;
  /**
   * The prior's decode:prefill cost ratio (the configured b ÷ a, default 4) and its strength: a
   * penalty priorStrength × Σx_decode² × (decode − ratio × prefill)² per model, so that models whose
   * decode tokens always run together (steady load) are told apart (default 0: off; the window below was enough in the harness).
   */
  readonly priorRatio?: number;
  readonly priorStrength?: number;
}

type Features = Map<string, number>;

const NANOS_PER_SECOND = 1e9;

/** The features of one interval's works, or `null` when some work is not known enough to fit on. */
export function featuresOf(works: readonly IntervalWork[]): Features | null {
  const x: Features = new Map();
  const add = (key: string, value: number) => {
    if (value > 0) x.set(key, (x.get(key) ?? 0) + value);
  };
  for (const work of works) {
    const request = work.request;
    if (request.outcome === 'unreached') continue;
    if (work.tokens === 'unknown' || request.outcome === 'error') return null;
    const model = request.model ?? '';
    add(`${model}\u0000prefill`, Number(work.prefillMilliTokens) / 1000);
    add(`${model}\u0000decode`, Number(work.decodeMilliTokens) / 1000);
    if (request.usage === null)
      add(`${model}\u0000prefill-time`, Number(work.prefillNanos) / NANOS_PER_SECOND);
  }
  return x;
}

/** See the module comment. One per device. */
export class CostFitter {
  private readonly decay: number;
  private readonly minIntervals: number;
  private readonly solveEvery: number;
  private readonly keys: string[] = [];
  private readonly index = new Map<string, number>();
  /** Normal equations: G = Σ λ^age x xᵀ, h = Σ λ^age x y; presence = Σ λ^age [x_k > 0]. */
  private gram: number[][] = [];
  private rhs: number[] = [];
  private presence: number[] = [];
  private count = 0;
  private sinceSolve = 0;
  private costs: number[] = [];
  private readonly priorRatio: number;
  private readonly priorStrength: number;
  private readonly windowIntervals: number;
  /** The last intervals' features and energies (consecutive, all fittable). */
  private window: Array<{ readonly x: Features; readonly y: number }> = [];

  constructor(options: CostFitOptions = {}) {
    this.windowIntervals = Math.max(1, options.windowIntervals ?? 5);
    this.priorRatio = options.priorRatio ?? 4;
    this.priorStrength = options.priorStrength ?? 0;
    const halfLife = options.halfLifeIntervals ?? 600;
    this.decay = 0.5 ** (1 / halfLife);
    this.minIntervals = options.minIntervals ?? 10;
    this.solveEvery = options.solveEvery ?? 10;
  }

  /** One finalized interval: its active energy (µJ) and its works. */
  observe(activeMicroJoules: bigint, works: readonly IntervalWork[]): void {
    const one = featuresOf(works);
    if (one === null) {
      this.window = []; // a gap in the run of fittable intervals
      return;
    }
    this.window.push({ x: one, y: Number(activeMicroJoules) });
    if (this.window.length > this.windowIntervals) this.window.shift();
    if (this.window.length < this.windowIntervals) return;
    const x: Features = new Map();
    let y = 0;
    for (const part of this.window) {
      y += part.y;
      for (const [key, value] of part.x) x.set(key, (x.get(key) ?? 0) + value);
    }
    if (x.size === 0) return;
    for (const key of x.keys()) this.keyIndex(key);
    const n = this.keys.length;
    const dense = this.keys.map((key) => x.get(key) ?? 0);
    for (let i = 0; i < n; i++) {
      this.rhs[i] = (this.rhs[i] as number) * this.decay + (dense[i] as number) * y;
      this.presence[i] = (this.presence[i] as number) * this.decay + ((dense[i] as number) > 0 ? 1 : 0);
      const row = this.gram[i] as number[];
      for (let j = 0; j < n; j++)
        row[j] = (row[j] as number) * this.decay + (dense[i] as number) * (dense[j] as number);
    }
    this.count = this.count * this.decay + 1;
    this.sinceSolve += 1;
    if (this.sinceSolve >= this.solveEvery) this.solve();
  }

  /**
   * The weight of each work in pJ (nJ per token × milli-tokens, mW × ns), or `null` when some of
   * the interval's features has no confident cost yet (then the caller uses the prior weights).
   */
  weights(works: readonly IntervalWork[]): bigint[] | null {
    const out: bigint[] = [];
    for (const work of works) {
      const request = work.request;
      // The split gives these no token weight (nothing, or their time share).
      if (request.outcome === 'unreached' || (work.tokens === 'unknown' && request.outcome !== 'error')) {
        out.push(0n);
        continue;
      }
      const model = request.model ?? '';
      let weight = 0n;
      const term = (feature: string, amount: bigint): boolean => {
        if (amount <= 0n) return true;
        const cost = this.confident(`${model}\u0000${feature}`);
        if (cost === null) return false;
        weight += cost * amount;
        return true;
      };
      if (!term('prefill', work.prefillMilliTokens) || !term('decode', work.decodeMilliTokens)) return null;
      if (request.usage === null && request.outcome !== 'error' && !term('prefill-time', work.prefillNanos))
        return null;
      out.push(weight);
    }
    return out;
  }

  /** The confident costs, for the record of what weighted the splits. */
  snapshot(): FittedCosts {
    const prefill = new Map<string, bigint>();
    const decode = new Map<string, bigint>();
    const time = new Map<string, bigint>();
    this.keys.forEach((key) => {
      const cost = this.confident(key);
      if (cost === null) return;
      const [model, feature] = key.split('\u0000') as [string, string];
      // Weights are pJ: nJ/token × milli-tokens, and mW × ns.
      (feature === 'prefill' ? prefill : feature === 'decode' ? decode : time).set(model, cost);
    });
    return {
      prefillNanoJoulesPerToken: prefill,
      decodeNanoJoulesPerToken: decode,
      prefillMilliWatts: time,
      observations: Math.round(this.count),
    };
  }

  /** nJ per token (token features) or mW (time features), rounded; `null` until confident. */
  private confident(key: string): bigint | null {
    const i = this.index.get(key);
    if (i === undefined || (this.presence[i] as number) < this.minIntervals) return null;
    const cost = this.costs[i];
    if (cost === undefined || !Number.isFinite(cost)) return null;
    // The fit is in µJ per token (→ nJ per token) and µJ per second, i.e. µW (→ mW).
    const isTime = key.endsWith('\u0000prefill-time');
    return BigInt(Math.max(0, Math.round(isTime ? cost / 1000 : cost * 1000)));
  }

  private keyIndex(key: string): number {
    const known = this.index.get(key);
    if (known !== undefined) return known;
    const i = this.keys.length;
    this.keys.push(key);
    this.index.set(key, i);
    for (const row of this.gram) row.push(0);
    this.gram.push(new Array<number>(i + 1).fill(0));
    this.rhs.push(0);
    this.presence.push(0);
    this.costs.push(0);
    return i;
  }

  /** NNLS by coordinate descent on the normal equations (warm-started). */
  private solve(): void {
    this.sinceSolve = 0;
    const n = this.keys.length;
    const w = this.costs;
    const gram = this.gram.map((row) => [...row]);
    // The ratio prior, per model with both a prefill and a decode feature.
    for (const [key, p] of this.index) {
      if (!key.endsWith('\u0000prefill')) continue;
      const d = this.index.get(`${key.slice(0, -'prefill'.length)}decode`);
      if (d === undefined) continue;
      const r = this.priorRatio;
      const lambda = this.priorStrength * ((gram[d] as number[])[d] as number);
      (gram[d] as number[])[d] = ((gram[d] as number[])[d] as number) + lambda;
      (gram[p] as number[])[p] = ((gram[p] as number[])[p] as number) + lambda * r * r;
      (gram[p] as number[])[d] = ((gram[p] as number[])[d] as number) - lambda * r;
      (gram[d] as number[])[p] = ((gram[d] as number[])[p] as number) - lambda * r;
    }
    for (let sweep = 0; sweep < 500; sweep++) {
      let moved = 0;
      for (let j = 0; j < n; j++) {
        const row = gram[j] as number[];
        const diagonal = row[j] as number;
        if (!(diagonal > 0)) continue;
        let residual = this.rhs[j] as number;
        for (let k = 0; k < n; k++) if (k !== j) residual -= (row[k] as number) * (w[k] as number);
        const next = Math.max(0, residual / diagonal);
        moved = Math.max(moved, Math.abs(next - (w[j] as number)) / Math.max(1e-9, Math.abs(next)));
        w[j] = next;
      }
      if (moved < 1e-9) break;
    }
  }
}
