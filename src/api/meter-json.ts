import type { RecordLine } from './records-tail.js';

/**
 * The meter's JSON (`meterVersion` 1, docs/DASHBOARD.md): one answer's energy, CO2e and water
 * on both accounting boundaries, the factors behind them as the batch that sealed the record
 * states them, and where its receipt is. Built from the stored record and its batch's payload;
 * the server vouches for nothing: the receipt it points to is what a reader verifies.
 */
export interface MeterJson {
  readonly meterVersion: 1;
  readonly requestId: string;
  readonly model: string | null;
  readonly engineId: string | null;
  readonly endedAt: string | null;
  readonly durationNanos: string | null;
  readonly inputTokens: number | null;
  readonly outputTokens: number | null;
  /** `simulated` when the batch measured simulated devices, else `estimated` or `measured`. */
  readonly measurement: 'measured' | 'estimated' | 'simulated';
  readonly estimated: boolean;
  readonly simulated: boolean;
  readonly active: unknown;
  readonly comprehensive: unknown;
  /** The batch's factor snapshot (docs/FACTORS.md), null when none was configured. */
  readonly factors: unknown;
  /** wattledger never substitutes a default or world factor for an unknown zone. */
  readonly fallbackFactor: false;
  readonly sequence: string;
  /** Paths on the API server: the receipt, and the page that verifies it in the browser. */
  readonly receiptPath: string;
  readonly verifyPath: string;
}

/** What the meter needs of the sealing batch's predicate. */
export interface BatchFacts {
  readonly simulated: boolean;
  readonly factors: unknown;
  /** The window's end, RFC 3339, and the number of records sealed into the batch. */
  readonly endedAt: string | null;
  readonly records: number | null;
}

/** The predicate facts of a stored batch line (the DSSE envelope); null when it cannot be read. */
export function batchFacts(line: Buffer | string): BatchFacts | null {
  try {
    const envelope = JSON.parse(line.toString()) as { payload?: unknown };
    if (typeof envelope.payload !== 'string') return null;
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as {
      predicate?: {
        simulated?: unknown;
        factors?: unknown;
        window?: { endedAt?: unknown };
        requests?: { count?: unknown };
      };
    };
    const p = statement.predicate;
    return {
      simulated: p?.simulated === true,
      factors: p?.factors ?? null,
      endedAt: typeof p?.window?.endedAt === 'string' ? p.window.endedAt : null,
      records: typeof p?.requests?.count === 'number' ? p.requests.count : null,
    };
  } catch {
    return null;
  }
}

/** The meter of one stored record line and the facts of its batch. */
export function meterJson(line: RecordLine, batch: BatchFacts): MeterJson {
  const r = line.record;
  const requestId = String(r.requestId);
  const estimated = r.estimated === true;
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  const count = (v: unknown) => (typeof v === 'number' ? v : null);
  return {
    meterVersion: 1,
    requestId,
    model: text(r.model),
    engineId: text(r.engineId),
    endedAt: text(r.endedAt),
    durationNanos: text(r.durationNanos),
    inputTokens: count(r.inputTokens),
    outputTokens: count(r.outputTokens),
    measurement: batch.simulated ? 'simulated' : estimated ? 'estimated' : 'measured',
    estimated,
    simulated: batch.simulated,
    active: r.activeImpact ?? null,
    comprehensive: r.comprehensive ?? null,
    factors: batch.factors,
    fallbackFactor: false,
    sequence: line.sequence,
    receiptPath: `/v1/receipts/${encodeURIComponent(requestId)}`,
    verifyPath: `/dashboard/receipt.html#receipt=${encodeURIComponent(`/v1/receipts/${requestId}`)}`,
  };
}
