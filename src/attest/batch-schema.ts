import { z } from 'zod';
import { BATCH_PREDICATE_TYPE, type BatchStatement, STATEMENT_TYPE } from './batch-format.js';

/**
 * Strict validation of a parsed batch statement (attacker-controlled until it passes). Unknown
 * fields are rejected rather than ignored: the format is versioned by its predicate type, and a
 * verifier must not silently skip numbers it does not understand.
 */

const decimal = z.string().regex(/^(0|[1-9]\d{0,29})$/, 'a decimal string of a non-negative integer');
const signedDecimal = z.string().regex(/^(0|-?[1-9]\d{0,29})$/, 'a decimal string of an integer');
const hex64 = z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits');
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const milliWatts = z.number().int().min(0).max(1_000_000_000);
const text = z.string().max(512);
const rfc3339 = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/, 'an RFC 3339 UTC time');

const agent = z.strictObject({
  hostId: text.min(1),
  hostIdSource: text,
  hostname: text.optional(),
  systemUuid: text.optional(),
  systemSerial: text.optional(),
  systemModel: text.optional(),
  cpuBrand: text.optional(),
  osDistro: text.optional(),
  kernelRelease: text.optional(),
  keyId: text.min(1),
  softwareVersion: text,
  configSha256: hex64,
  runId: text.min(1),
});

const window = z.strictObject({
  startedAt: rfc3339,
  endedAt: rfc3339,
  startUnixNanos: decimal,
  endUnixNanos: decimal,
  startMonoNanos: decimal,
  endMonoNanos: decimal,
  downtimeNanos: decimal,
});

const gap = z.strictObject({
  reason: text,
  startMonoNanos: decimal.nullable(),
  endMonoNanos: decimal.nullable(),
  durationNanos: decimal,
  bridged: z.boolean(),
  code: text.optional(),
});

const allocationSums = z.strictObject({
  requestsMicroJoules: decimal,
  idleMicroJoules: decimal,
  unattributedMicroJoules: decimal,
  idleSharedMicroJoules: decimal,
  idleUnsharedMicroJoules: decimal,
});

const idleBaseline = z.strictObject({
  source: z.enum(['configured', 'learned']),
  powerMilliWatts: milliWatts,
  minPowerMilliWatts: milliWatts,
  maxPowerMilliWatts: milliWatts,
  sampleCount: count,
  idleNanos: decimal,
});

const device = z.strictObject({
  deviceId: text.min(1),
  probe: text,
  hwType: text,
  name: text,
  vendor: text,
  accounting: z.enum(['additive', 'overlapping']),
  simulated: z.boolean(),
  powerLimitMilliWatts: milliWatts.nullable(),
  driverVersion: text.nullable(),
  wrapRangeMicroJoules: decimal.nullable(),
  energySource: z.enum(['counter', 'integrated-power', 'none']),
  powerSemantics: z.enum(['instant', 'average-1s', 'none']),
  counterStartMicroJoules: decimal.nullable(),
  counterEndMicroJoules: decimal.nullable(),
  counterEnergyMicroJoules: decimal,
  fallbackEnergyMicroJoules: decimal,
  integratedEnergyMicroJoules: decimal,
  downtimeEnergyMicroJoules: decimal,
  energyMicroJoules: decimal,
  comparedCounterMicroJoules: decimal,
  residualMicroJoules: signedDecimal,
  wrapCount: count,
  discontinuities: z
    .array(
      z.strictObject({
        reason: z.enum(['counter-reset', 'implausible-counter', 'agent-downtime-reset', 'unbridged-gap']),
        fromMicroJoules: decimal,
        toMicroJoules: decimal,
      }),
    )
    .max(10_000),
  gapCount: count,
  gapNanos: decimal,
  gaps: z.array(gap).max(32),
  intervalCount: count,
  powerSampleCount: count,
  peakPowerMilliWatts: milliWatts.nullable(),
  coveredNanos: decimal,
  unmeasuredReason: text.min(1).nullable(),
  attribution: z.strictObject({
    ...allocationSums.shape,
    deferredMicroJoules: decimal,
    resolved: allocationSums,
    outstandingDeferredMicroJoules: decimal,
    idleBaseline: idleBaseline.nullable(),
  }),
});

const event = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('key-announcement'),
    keyId: text.min(1),
    publicKeyBase64: text,
    validFrom: rfc3339,
  }),
  z.strictObject({
    kind: z.literal('agent-start'),
    startedAt: rfc3339,
    chain: z.enum(['genesis', 'resumed']),
  }),
]);

/** Free text of the factor snapshot (operator notes, data credits): longer than `text`. */
const factorText = z.string().max(4096);

/**
 * `predicate.factors` (FORMAT.md §3.12, `src/factors/snapshot.ts`): the factor snapshot the
 * batch's CO2e and water were computed with, closed like every other object.
 */
export const factorsSchema = z.strictObject({
  factorsVersion: z.literal(1),
  pueMilli: count,
  location: z
    .strictObject({
      zone: factorText.min(1),
      zoneName: factorText.nullable(),
      source: factorText.min(1),
      dataset: factorText.nullable(),
      year: count.nullable(),
      gridIntensityMilligramsCo2ePerKilowattHour: count,
      licence: factorText.nullable(),
      attribution: factorText.nullable(),
      note: factorText.nullable(),
    })
    .nullable(),
  market: z
    .strictObject({
      operatorSupplied: z.literal(true),
      method: z.literal('ghg-protocol-scope2-market-based'),
      gridIntensityMilligramsCo2ePerKilowattHour: count,
      instrument: factorText.min(1),
      note: factorText.min(1),
    })
    .nullable(),
  water: z.strictObject({
    wueMillilitersPerKilowattHour: count,
    ewifMillilitersPerKilowattHour: count.nullable(),
    sources: z.strictObject({ wue: factorText.nullable(), ewif: factorText.nullable() }),
  }),
  energySource: z.strictObject({
    kind: z.enum(['grid-mix', 'contracted']),
    description: factorText.nullable(),
  }),
});

const predicate = z.strictObject({
  formatVersion: z.literal(1),
  origin: text.min(1).regex(/^[^\s+]+$/, 'no spaces or +'),
  sequence: decimal,
  previousSha256: hex64.nullable(),
  agent,
  window,
  devices: z.array(device).max(1024),
  totals: z.strictObject({
    energyMicroJoules: decimal,
    gpuEnergyMicroJoules: decimal,
    cpuEnergyMicroJoules: decimal,
    dramEnergyMicroJoules: decimal,
  }),
  requests: z.strictObject({ count, merkleRootSha256: hex64, attributionMethod: text }),
  factors: factorsSchema.nullable(),
  events: z.array(event).max(64),
  simulated: z.boolean(),
});

const statement = z.strictObject({
  _type: z.literal(STATEMENT_TYPE),
  subject: z.tuple([z.strictObject({ name: text, digest: z.strictObject({ sha256: hex64 }) })]),
  predicateType: z.literal(BATCH_PREDICATE_TYPE),
  predicate,
});

/** Problems found in a statement: JSON path and what is wrong. */
export interface SchemaProblem {
  readonly path: string;
  readonly message: string;
}

/** Validates a parsed statement; returns it typed, or every problem found. */
export function parseBatchStatement(
  value: unknown,
):
  | { readonly ok: true; readonly statement: BatchStatement }
  | { readonly ok: false; readonly problems: readonly SchemaProblem[] } {
  const result = statement.safeParse(value);
  if (result.success) return { ok: true, statement: result.data as BatchStatement };
  return {
    ok: false,
    problems: result.error.issues.map((issue) => ({
      path: `$.${issue.path.map(String).join('.')}`,
      message: issue.message,
    })),
  };
}
