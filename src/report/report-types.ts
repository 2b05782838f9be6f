/**
 * The report's stable JSON shape (`wattledger report --json`, `GET /v1/stats/models`), version
 * {@link REPORT_VERSION}; docs/REPORT.md describes every member. Exact integers (sums, and
 * percentiles of per-request energy, which are values that occurred) are decimal strings with
 * their unit in the name; ratios (J per token) are JSON numbers in joules, for presentation.
 * Members are only ever added within a version; a change of meaning is a new version.
 */

export const REPORT_VERSION = 1;

/** Nearest-rank percentiles of a distribution. */
export interface Percentiles<T> {
  readonly p50: T;
  readonly p90: T;
  readonly p99: T;
}

/** Energy per token: the requests that had at least one such token, their energy and tokens. */
export interface PerTokenStats {
  /** Requests with a known count of at least one such token (others are left out of this figure). */
  readonly requests: number;
  /** Σ the boundary energy of those requests. */
  readonly energyMicroJoules: string;
  /** Σ their tokens. */
  readonly tokens: string;
  /** energyMicroJoules ÷ tokens, in joules per token; null when no request had such tokens. */
  readonly joulesPerToken: number | null;
  /** Each request's own energy ÷ its tokens (J per token); null when no request had such tokens. */
  readonly perRequestJoulesPerToken: Percentiles<number> | null;
}

/** A CO2e or water total over the requests whose records carry the figure. */
export interface ImpactTotal {
  readonly total: string;
  /** How many of the boundary's requests carry it; fewer than the boundary's `requests` means a partial total. */
  readonly requests: number;
}

/** One accounting boundary's figures. The two boundaries are never added to each other. */
export interface BoundaryStats {
  readonly boundary: 'active' | 'comprehensive';
  /** Requests whose records carry this boundary (all of them for `active`). */
  readonly requests: number;
  /**
   * `exact`: every percentile below is a value that occurred; `approximate`: a distribution held
   * more than a million values and was bucketed, each percentile within 0.5 % (docs/REPORT.md).
   */
  readonly percentiles: 'exact' | 'approximate';
  readonly energyMicroJoules: string;
  /** Per-request energy: the floor of the mean, and nearest-rank percentiles; null for no requests. */
  readonly perRequest: {
    readonly meanMicroJoules: string;
    readonly p50MicroJoules: string;
    readonly p90MicroJoules: string;
    readonly p99MicroJoules: string;
  } | null;
  /** The request's whole energy per input token (cached input tokens included). */
  readonly perInputToken: PerTokenStats;
  /** The request's whole energy per output token (prefill included: not a decode-only figure). */
  readonly perOutputToken: PerTokenStats;
  /** Location-based CO2e; null when no record carries it (no factors configured). */
  readonly co2eLocationMicrograms: ImpactTotal | null;
  /** Market-based CO2e (operator-supplied), never added to the location-based figure. */
  readonly co2eMarketMicrograms: ImpactTotal | null;
  /** On-site + off-site water; null when no record carries it (EWIF unknown). */
  readonly waterMicroliters: ImpactTotal | null;
}

/** The statistics of a set of request records. */
export interface Stats {
  readonly requests: number;
  /** Requests per outcome (`ok`, `error`, `cancelled`, `evicted`), keys sorted. */
  readonly outcomes: Readonly<Record<string, number>>;
  /** Records flagged `estimated` (split by time or partial tokens, usage missing, or released late). */
  readonly estimatedRequests: number;
  /** estimatedRequests ÷ requests; 0 for no requests. */
  readonly estimatedShare: number;
  readonly tokens: {
    readonly inputTokens: string;
    readonly cachedInputTokens: string;
    readonly outputTokens: string;
    readonly requestsWithInputTokens: number;
    readonly requestsWithCachedInputTokens: number;
    readonly requestsWithOutputTokens: number;
  };
  readonly active: BoundaryStats;
  /** null when no record in the set carries the comprehensive boundary. */
  readonly comprehensive: BoundaryStats | null;
}

/** The statistics of one model on one engine. */
export interface ModelStats extends Stats {
  /** null: the requests did not name a model. */
  readonly model: string | null;
  readonly engineId: string;
}

/** How one model compares with the most frugal one, per output token, on the active boundary. */
export interface Comparison {
  readonly boundary: 'active';
  readonly metric: 'energy-per-output-token';
  readonly baseline: { readonly model: string | null; readonly engineId: string };
  readonly entries: readonly {
    readonly model: string | null;
    readonly engineId: string;
    /** (this model's J per output token) ÷ (the baseline's), to 2 decimals; 1 for the baseline. */
    readonly ratio: number;
  }[];
}

/** What the reader saw that is not a statistic. */
export interface LedgerSummary {
  readonly origin: string | null;
  readonly batchesRead: number;
  /** Record-log lines read, in or out of the window. */
  readonly recordLinesRead: number;
  /** Records that belong to a sealed batch (their run matched the batch's count and Merkle root). */
  readonly recordsSealed: number;
  /** Sealed records that are not request energy records a report can read (other shapes). */
  readonly recordsUnreadable: number;
  /** Sealed, readable records that ended in the window and pass the filters: the ones summarised. */
  readonly recordsInReport: number;
  /** Batches that commit to records the record log does not hold (damage, or a deleted record log). */
  readonly batchesMissingRecords: number;
  /** Batch lines that could not be decoded at all (damage; `wattledger verify` names them). */
  readonly batchesUnreadable: number;
  /** Some summarised record came from a batch of simulated GPUs. */
  readonly simulated: boolean;
  readonly warnings: readonly string[];
}

/** Whether the batches were verified, and how. */
export interface VerificationSummary {
  /** `verified`: every batch verified with the given keys; `failed`: they did not; `not-verified`: no keys given. */
  readonly status: 'verified' | 'failed' | 'not-verified';
  readonly batches: number;
  readonly checkpointsVerified: number;
  readonly findings: number;
  /** The first findings, as `wattledger verify` prints them. */
  readonly firstFindings: readonly string[];
}

/** The whole report. */
export interface Report {
  readonly reportVersion: typeof REPORT_VERSION;
  /** Records are selected by their `endedAt`: from inclusive, to exclusive; null bounds are open. */
  readonly window: {
    readonly by: 'record.endedAt';
    readonly from: string | null;
    readonly to: string | null;
    readonly fromUnixNanos: string | null;
    readonly toUnixNanos: string | null;
  };
  readonly filters: { readonly model: string | null; readonly engineId: string | null };
  readonly verification: VerificationSummary;
  readonly ledger: LedgerSummary;
  /** One entry per (model, engine), sorted by model (unnamed last), then engine. */
  readonly models: readonly ModelStats[];
  readonly totals: Stats;
  /** null with fewer than two models with output tokens. */
  readonly comparison: Comparison | null;
  /** The accounting boundary, in words. */
  readonly boundaryNote: string;
}
