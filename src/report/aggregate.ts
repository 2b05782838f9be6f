import { MICROJOULES_PER_JOULE } from '../units.js';
import { DEFAULT_EXACT_LIMIT, Distribution } from './distribution.js';
import type { BoundaryFigures, ReportRecord } from './record-fields.js';
import type { BoundaryStats, ImpactTotal, ModelStats, PerTokenStats, Stats } from './report-types.js';

/**
 * Statistics of request records, accumulated one record at a time: exact bigint sums, plus the
 * per-request values that percentiles need (see {@link Distribution} for the memory this takes).
 */

const PERCENTS = [50, 90, 99] as const;
const JOULES = Number(MICROJOULES_PER_JOULE);

/** Energy per token of one kind (input or output) on one boundary. */
class PerTokenAccumulator {
  requests = 0;
  energyMicroJoules = 0n;
  tokens = 0n;
  readonly ratios: Distribution;

  constructor(exactLimit: number) {
    this.ratios = new Distribution(exactLimit);
  }

  add(energyMicroJoules: bigint, tokens: number | null): void {
    if (tokens === null || tokens < 1) return;
    this.requests += 1;
    this.energyMicroJoules += energyMicroJoules;
    this.tokens += BigInt(tokens);
    this.ratios.add(Number(energyMicroJoules) / tokens / JOULES);
  }

  result(): PerTokenStats {
    const p = this.ratios.percentiles(PERCENTS);
    return {
      requests: this.requests,
      energyMicroJoules: this.energyMicroJoules.toString(),
      tokens: this.tokens.toString(),
      joulesPerToken:
        this.tokens === 0n ? null : Number(this.energyMicroJoules) / Number(this.tokens) / JOULES,
      perRequestJoulesPerToken: p === null ? null : { p50: p[0]!, p90: p[1]!, p99: p[2]! },
    };
  }
}

/** A CO2e or water sum over the records that carry it. */
class ImpactAccumulator {
  total = 0n;
  requests = 0;

  add(value: bigint | null): void {
    if (value === null) return;
    this.total += value;
    this.requests += 1;
  }

  result(): ImpactTotal | null {
    return this.requests === 0 ? null : { total: this.total.toString(), requests: this.requests };
  }
}

class BoundaryAccumulator {
  requests = 0;
  energyMicroJoules = 0n;
  readonly perRequest: Distribution;
  readonly perInputToken: PerTokenAccumulator;
  readonly perOutputToken: PerTokenAccumulator;
  readonly co2eLocation = new ImpactAccumulator();
  readonly co2eMarket = new ImpactAccumulator();
  readonly water = new ImpactAccumulator();

  constructor(
    private readonly boundary: 'active' | 'comprehensive',
    exactLimit: number,
  ) {
    this.perRequest = new Distribution(exactLimit);
    this.perInputToken = new PerTokenAccumulator(exactLimit);
    this.perOutputToken = new PerTokenAccumulator(exactLimit);
  }

  add(figures: BoundaryFigures, record: ReportRecord): void {
    const energy = figures.energyMicroJoules;
    this.requests += 1;
    this.energyMicroJoules += energy;
    this.perRequest.add(Number(energy));
    this.perInputToken.add(energy, record.inputTokens);
    this.perOutputToken.add(energy, record.outputTokens);
    this.co2eLocation.add(figures.co2eLocationMicrograms);
    this.co2eMarket.add(figures.co2eMarketMicrograms);
    this.water.add(figures.waterMicroliters);
  }

  result(): BoundaryStats {
    const p = this.perRequest.percentiles(PERCENTS);
    // Exact percentiles are integers already; a bucket midpoint is rounded to the nearest µJ.
    const micro = (value: number) => BigInt(Math.round(value)).toString();
    const exact = [this.perRequest, this.perInputToken.ratios, this.perOutputToken.ratios].every(
      (d) => d.exact,
    );
    return {
      boundary: this.boundary,
      requests: this.requests,
      percentiles: exact ? 'exact' : 'approximate',
      energyMicroJoules: this.energyMicroJoules.toString(),
      perRequest:
        p === null
          ? null
          : {
              meanMicroJoules: (this.energyMicroJoules / BigInt(this.requests)).toString(),
              p50MicroJoules: micro(p[0]!),
              p90MicroJoules: micro(p[1]!),
              p99MicroJoules: micro(p[2]!),
            },
      perInputToken: this.perInputToken.result(),
      perOutputToken: this.perOutputToken.result(),
      co2eLocationMicrograms: this.co2eLocation.result(),
      co2eMarketMicrograms: this.co2eMarket.result(),
      waterMicroliters: this.water.result(),
    };
  }
}

/** Counts and sums of one set of records. */
class StatsAccumulator {
  requests = 0;
  estimated = 0;
  readonly outcomes = new Map<string, number>();
  readonly tokens = { input: 0n, cached: 0n, output: 0n, withInput: 0, withCached: 0, withOutput: 0 };
  readonly active: BoundaryAccumulator;
  readonly comprehensive: BoundaryAccumulator;

  constructor(exactLimit: number) {
    this.active = new BoundaryAccumulator('active', exactLimit);
    this.comprehensive = new BoundaryAccumulator('comprehensive', exactLimit);
  }

  add(record: ReportRecord): void {
    this.requests += 1;
    if (record.estimated) this.estimated += 1;
    this.outcomes.set(record.outcome, (this.outcomes.get(record.outcome) ?? 0) + 1);
    const t = this.tokens;
    if (record.inputTokens !== null)
      [t.input, t.withInput] = [t.input + BigInt(record.inputTokens), t.withInput + 1];
    if (record.cachedInputTokens !== null)
      [t.cached, t.withCached] = [t.cached + BigInt(record.cachedInputTokens), t.withCached + 1];
    if (record.outputTokens !== null)
      [t.output, t.withOutput] = [t.output + BigInt(record.outputTokens), t.withOutput + 1];
    this.active.add(record.active, record);
    if (record.comprehensive !== null) this.comprehensive.add(record.comprehensive, record);
  }

  result(): Stats {
    const t = this.tokens;
    const names = [...this.outcomes.keys()].sort();
    return {
      requests: this.requests,
      outcomes: Object.fromEntries(names.map((name) => [name, this.outcomes.get(name) ?? 0])),
      estimatedRequests: this.estimated,
      estimatedShare: this.requests === 0 ? 0 : this.estimated / this.requests,
      tokens: {
        inputTokens: t.input.toString(),
        cachedInputTokens: t.cached.toString(),
        outputTokens: t.output.toString(),
        requestsWithInputTokens: t.withInput,
        requestsWithCachedInputTokens: t.withCached,
        requestsWithOutputTokens: t.withOutput,
      },
      active: this.active.result(),
      comprehensive: this.comprehensive.requests === 0 ? null : this.comprehensive.result(),
    };
  }
}

/** Statistics per (model, engine) and over all of them. */
export class ReportAggregator {
  readonly #groups = new Map<string, { model: string | null; engineId: string; stats: StatsAccumulator }>();
  readonly #totals: StatsAccumulator;
  readonly #exactLimit: number;

  /** `exactLimit`: values per distribution kept exactly before bucketing (see {@link Distribution}). */
  constructor(options: { readonly exactLimit?: number } = {}) {
    this.#exactLimit = options.exactLimit ?? DEFAULT_EXACT_LIMIT;
    this.#totals = new StatsAccumulator(this.#exactLimit);
  }

  get requests(): number {
    return this.#totals.requests;
  }

  add(record: ReportRecord): void {
    const key = JSON.stringify([record.model, record.engineId]);
    let group = this.#groups.get(key);
    if (group === undefined) {
      group = {
        model: record.model,
        engineId: record.engineId,
        stats: new StatsAccumulator(this.#exactLimit),
      };
      this.#groups.set(key, group);
    }
    group.stats.add(record);
    this.#totals.add(record);
  }

  /** Per-model statistics sorted by model (unnamed last), then engine; and the totals. */
  result(): { models: ModelStats[]; totals: Stats } {
    const groups = [...this.#groups.values()].sort(
      (a, b) => compareModels(a.model, b.model) || compareText(a.engineId, b.engineId),
    );
    return {
      models: groups.map((g) => ({ model: g.model, engineId: g.engineId, ...g.stats.result() })),
      totals: this.#totals.result(),
    };
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareModels(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return compareText(a, b);
}
