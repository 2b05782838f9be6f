/**
 * JSON Schemas of the per-model report (`GET /v1/stats/models`, `wattledger report --json`),
 * mirroring `src/report/report-types.ts`; docs/REPORT.md explains each member.
 */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const COUNT = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
const DECIMAL = {
  type: 'string',
  pattern: '^(0|[1-9][0-9]*)$',
  description: 'a non-negative integer in decimal',
};
const NUMBER_OR_NULL = { type: ['number', 'null'] };
const STRING_OR_NULL = { type: ['string', 'null'] };
const DECIMAL_OR_NULL = { type: ['string', 'null'], pattern: '^(0|[1-9][0-9]*)$' };

function closed(properties: Record<string, unknown>, description?: string) {
  return {
    type: 'object',
    ...(description === undefined ? {} : { description }),
    required: Object.keys(properties),
    additionalProperties: false,
    properties,
  };
}

const percentilesOf = (schema: object) => closed({ p50: schema, p90: schema, p99: schema });

const nullable = (name: string) => ({ oneOf: [{ type: 'null' }, ref(name)] });

const stats = {
  requests: COUNT,
  outcomes: { type: 'object', additionalProperties: COUNT, description: 'requests per outcome' },
  estimatedRequests: COUNT,
  estimatedShare: { type: 'number', minimum: 0, maximum: 1 },
  tokens: closed({
    inputTokens: DECIMAL,
    cachedInputTokens: DECIMAL,
    outputTokens: DECIMAL,
    requestsWithInputTokens: COUNT,
    requestsWithCachedInputTokens: COUNT,
    requestsWithOutputTokens: COUNT,
  }),
  active: ref('ReportBoundary'),
  comprehensive: nullable('ReportBoundary'),
};

/** Added to `components.schemas`. */
export const REPORT_SCHEMAS = {
  Report: closed(
    {
      reportVersion: { const: 1 },
      window: closed({
        by: { const: 'record.endedAt' },
        from: STRING_OR_NULL,
        to: STRING_OR_NULL,
        fromUnixNanos: DECIMAL_OR_NULL,
        toUnixNanos: DECIMAL_OR_NULL,
      }),
      filters: closed({ model: STRING_OR_NULL, engineId: STRING_OR_NULL }),
      verification: closed({
        status: { enum: ['verified', 'failed', 'not-verified'] },
        batches: COUNT,
        checkpointsVerified: COUNT,
        findings: COUNT,
        firstFindings: { type: 'array', items: { type: 'string' } },
      }),
      ledger: closed({
        origin: STRING_OR_NULL,
        batchesRead: COUNT,
        recordLinesRead: COUNT,
        recordsSealed: COUNT,
        recordsUnreadable: COUNT,
        recordsInReport: COUNT,
        batchesMissingRecords: COUNT,
        batchesUnreadable: COUNT,
        simulated: { type: 'boolean' },
        warnings: { type: 'array', items: { type: 'string' } },
      }),
      models: { type: 'array', items: ref('ReportModelStats') },
      totals: ref('ReportStats'),
      comparison: nullable('ReportComparison'),
      boundaryNote: { type: 'string' },
    },
    'Per-model energy of the request records that ended in [from, to); see docs/REPORT.md',
  ),
  ReportStats: closed(stats),
  ReportModelStats: closed({ model: STRING_OR_NULL, engineId: { type: 'string' }, ...stats }),
  ReportBoundary: closed(
    {
      boundary: { enum: ['active', 'comprehensive'] },
      requests: COUNT,
      percentiles: { enum: ['exact', 'approximate'] },
      energyMicroJoules: DECIMAL,
      perRequest: {
        oneOf: [
          { type: 'null' },
          closed({
            meanMicroJoules: DECIMAL,
            p50MicroJoules: DECIMAL,
            p90MicroJoules: DECIMAL,
            p99MicroJoules: DECIMAL,
          }),
        ],
      },
      perInputToken: ref('ReportPerToken'),
      perOutputToken: ref('ReportPerToken'),
      co2eLocationMicrograms: nullable('ReportImpactTotal'),
      co2eMarketMicrograms: nullable('ReportImpactTotal'),
      waterMicroliters: nullable('ReportImpactTotal'),
    },
    'One accounting boundary; the two are never added to each other',
  ),
  ReportPerToken: closed({
    requests: COUNT,
    energyMicroJoules: DECIMAL,
    tokens: DECIMAL,
    joulesPerToken: NUMBER_OR_NULL,
    perRequestJoulesPerToken: { oneOf: [{ type: 'null' }, percentilesOf({ type: 'number' })] },
  }),
  ReportImpactTotal: closed({ total: DECIMAL, requests: COUNT }),
  ReportComparison: closed({
    boundary: { const: 'active' },
    metric: { const: 'energy-per-output-token' },
    baseline: closed({ model: STRING_OR_NULL, engineId: { type: 'string' } }),
    entries: {
      type: 'array',
      items: closed({ model: STRING_OR_NULL, engineId: { type: 'string' }, ratio: { type: 'number' } }),
    },
  }),
};
