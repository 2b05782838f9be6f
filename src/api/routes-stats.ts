import type { FastifyInstance } from 'fastify';
import { systemClock } from '../clock.js';
import { buildReport } from '../report/build-report.js';
import { ReportError } from '../report/errors.js';
import type { Report } from '../report/report-types.js';
import { parseTimeWindow, type TimeWindow } from '../report/time-window.js';
import { ApiError, badParameter } from './errors.js';
import type { ScanLimiter } from './ledger-scans.js';
import { singleQuery } from './params.js';

/**
 * `GET /v1/stats/models`: the per-model report of `wattledger report` (docs/REPORT.md), computed
 * by the same module over the request records that ended in `[from, to)`. It reads the whole
 * ledger, so it runs under the scan limiter. The server holds no trust decision: the report says
 * `verification.status: not-verified`; a client that needs verified figures runs
 * `wattledger report --key` on a copy of the ledger.
 */

/** What the stats route needs. */
export interface StatsRouteContext {
  readonly ledgerDir: string;
  readonly scans: ScanLimiter;
  /** Wall time for relative bounds (`24h`); default the system clock. */
  readonly nowUnixNanos?: () => bigint;
}

/** The query parameters, in the order the OpenAPI document lists them. */
export const STATS_QUERY = ['from', 'to', 'model', 'engine'] as const;
/** Longest model or engine name accepted as a filter. */
export const MAX_FILTER_LENGTH = 256;

export function registerStatsRoutes(app: FastifyInstance, context: StatsRouteContext): void {
  app.get('/v1/stats/models', async (request) => {
    const query = singleQuery(request.query, STATS_QUERY);
    const window = statsWindow(query.from, query.to, (context.nowUnixNanos ?? systemClock.wallUnixNanos)());
    const model = filterParam('model', query.model);
    const engineId = filterParam('engine', query.engine);
    return context.scans.run(() => report(context.ledgerDir, window, model, engineId));
  });
}

function statsWindow(from: string | undefined, to: string | undefined, now: bigint): TimeWindow {
  try {
    return parseTimeWindow(from, to, now);
  } catch (error) {
    if (!(error instanceof ReportError)) throw error;
    if (error.code === 'REPORT_BAD_RANGE') throw badParameter('from', 'before to');
    const name = error.message.startsWith('--from') ? 'from' : 'to';
    throw badParameter(name, 'an RFC 3339 time, a date, now, or a duration before now (30m, 24h, 7d, 2w)');
  }
}

function filterParam(name: string, raw: string | undefined): string | undefined {
  if (raw !== undefined && (raw.length === 0 || raw.length > MAX_FILTER_LENGTH))
    throw badParameter(name, `1 to ${MAX_FILTER_LENGTH} characters`);
  return raw;
}

async function report(
  ledgerDir: string,
  window: TimeWindow,
  model: string | undefined,
  engineId: string | undefined,
): Promise<Report> {
  try {
    return await buildReport({ ledgerDir, window, model, engineId });
  } catch (error) {
    if (!(error instanceof ReportError)) throw error;
    throw new ApiError(
      'API_LEDGER_INCONSISTENT',
      'the ledger cannot be read as a whole; see the server log',
      {
        cause: error,
      },
    );
  }
}
