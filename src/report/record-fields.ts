import { unixNanosFromRfc3339 } from '../keys/trusted-keys.js';
import type { MicroJoules, UnixNanos } from '../units.js';

/**
 * The fields of a request record (`RequestEnergyRecord`, plus the `activeImpact` the daemon adds
 * before sealing) that a report reads, parsed from the stored JSON. Records come from disk, so
 * nothing is assumed: a record without the fields a report needs is counted as unreadable, never
 * guessed. Decimal strings become bigints; nothing is rounded.
 */

/** One boundary's figures of one record. `null`: the record does not carry that figure. */
export interface BoundaryFigures {
  /** The boundary's energy: active µJ, or the comprehensive boundary's facility energy (IT × PUE). */
  readonly energyMicroJoules: MicroJoules;
  readonly co2eLocationMicrograms: bigint | null;
  readonly co2eMarketMicrograms: bigint | null;
  readonly waterMicroliters: bigint | null;
}

/** What a report needs of one record. */
export interface ReportRecord {
  readonly model: string | null;
  readonly engineId: string;
  readonly outcome: string;
  readonly endedAtUnixNanos: UnixNanos;
  /** All prompt tokens, cached ones included (as the server's usage reports them). */
  readonly inputTokens: number | null;
  readonly cachedInputTokens: number | null;
  readonly outputTokens: number | null;
  readonly estimated: boolean;
  readonly active: BoundaryFigures;
  /** `null` while records do not carry the comprehensive boundary. */
  readonly comprehensive: BoundaryFigures | null;
}

const DECIMAL = /^(?:0|[1-9]\d{0,29})$/;

function decimal(value: unknown): bigint | null {
  return typeof value === 'string' && DECIMAL.test(value) ? BigInt(value) : null;
}

function tokens(value: unknown): number | null | undefined {
  if (value === null) return null;
  return Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : undefined;
}

function object(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

/** CO2e and water of an impact object (`ImpactWire`); each null when absent or unknown. */
function impactFigures(impact: Record<string, unknown> | null) {
  return {
    co2eLocationMicrograms: decimal(impact?.co2eLocationMicrograms),
    co2eMarketMicrograms: decimal(impact?.co2eMarketMicrograms),
    waterMicroliters: decimal(impact?.waterMicroliters),
  };
}

/** The comprehensive boundary of a record, or null when it is `null`, absent or unreadable. */
function comprehensiveFigures(value: unknown): BoundaryFigures | null {
  const impact = object(value);
  const energy = decimal(impact?.facilityEnergyMicroJoules);
  if (impact === null || energy === null) return null;
  return { energyMicroJoules: energy, ...impactFigures(impact) };
}

/** The report's view of a stored record, or null when it lacks what a report needs. */
export function reportRecordOf(value: unknown): ReportRecord | null {
  const record = object(value);
  if (record === null) return null;
  const { model, engineId, outcome, endedAt, estimated } = record;
  const active = decimal(record.activeEnergyMicroJoules);
  const ended = typeof endedAt === 'string' ? unixNanosFromRfc3339(endedAt) : null;
  const input = tokens(record.inputTokens);
  const cached = tokens(record.cachedInputTokens);
  const output = tokens(record.outputTokens);
  if (
    (model !== null && typeof model !== 'string') ||
    typeof engineId !== 'string' ||
    typeof outcome !== 'string' ||
    typeof estimated !== 'boolean' ||
    active === null ||
    ended === null ||
    input === undefined ||
    cached === undefined ||
    output === undefined
  )
    return null;
  return {
    model,
    engineId,
    outcome,
    endedAtUnixNanos: ended,
    inputTokens: input,
    cachedInputTokens: cached,
    outputTokens: output,
    estimated,
    active: { energyMicroJoules: active, ...impactFigures(object(record.activeImpact)) },
    comprehensive: comprehensiveFigures(record.comprehensive),
  };
}
