import { BATCH_PREDICATE_TYPE, type BatchStatement, STATEMENT_TYPE } from '../attest/batch-format.js';
import { factorsSchema } from '../attest/batch-schema.js';
import { readDevice } from './device-pattern.js';
import {
  arrayOf,
  boolean,
  checked,
  decimal,
  integer,
  NOT_FAST,
  noControl,
  nullable,
  object,
  oneOf,
  optional,
  type Parse,
  Parser,
  signedDecimal,
  wellFormed,
} from './fast-parser.js';
import { readStatementHead, readStatementTail } from './statement-pattern.js';

/**
 * The verifier's fast path for a batch statement: one pass over the payload text that parses it
 * AND proves it canonical AND validates it against batch format v1, where the reference path
 * (`parseCanonicalJson`: JSON.parse, a validation walk and a JSON.stringify compared to the text;
 * then the zod schema of `batch-schema.ts`) takes four passes.
 *
 * It may only say yes where the reference path says yes, with the same value: it accepts a subset
 * of canonical JSON (no backslash anywhere in the text, so no escapes; no control characters;
 * strings need no escaping; integers in canonical form within ±(2^53 − 1); members in RFC 8785
 * order and no array-index-like names) and checks every schema rule at least as strictly as zod.
 * On anything else it returns null and the caller takes the reference path, which then says what
 * is wrong exactly as before. `tests/unit/verify/canonical-statement.test.ts` checks the
 * agreement on real ledgers and on thousands of mutations of them.
 */

/** A statement opened on the fast path, with where `predicate.devices` lies in the text. */
export interface FastStatement {
  readonly statement: BatchStatement;
  /** `text.slice(devicesStart, devicesEnd)` is the canonical JSON of `predicate.devices`. */
  readonly devicesStart: number;
  readonly devicesEnd: number;
}

// The schema of batch format v1, rule for rule as `src/attest/batch-schema.ts` states it.

function isHex64(s: string): boolean {
  if (s.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const ORIGIN = /^[^\s+]+$/;

const hex64 = checked(isHex64);
const text = checked((s) => s.length <= 512 && noControl(s));
const text1 = checked((s) => s.length >= 1 && s.length <= 512 && noControl(s));
const rfc3339 = checked((s) => RFC3339.test(s));
const count = integer(Number.MAX_SAFE_INTEGER);
const milliWatts = integer(1_000_000_000);

const agent = object({
  hostId: text1,
  hostIdSource: text,
  hostname: optional(text),
  systemUuid: optional(text),
  systemSerial: optional(text),
  systemModel: optional(text),
  cpuBrand: optional(text),
  osDistro: optional(text),
  kernelRelease: optional(text),
  keyId: text1,
  softwareVersion: text,
  configSha256: hex64,
  runId: text1,
});

const window = object(
  {
    startedAt: rfc3339,
    endedAt: rfc3339,
    startUnixNanos: decimal,
    endUnixNanos: decimal,
    startMonoNanos: decimal,
    endMonoNanos: decimal,
    downtimeNanos: decimal,
  },
  (v) => ({
    downtimeNanos: v[0],
    endMonoNanos: v[1],
    endUnixNanos: v[2],
    endedAt: v[3],
    startMonoNanos: v[4],
    startUnixNanos: v[5],
    startedAt: v[6],
  }),
);

const gap = object({
  reason: text,
  startMonoNanos: nullable(decimal),
  endMonoNanos: nullable(decimal),
  durationNanos: decimal,
  bridged: boolean,
  code: optional(text),
});

const allocationSums = {
  requestsMicroJoules: decimal,
  idleMicroJoules: decimal,
  unattributedMicroJoules: decimal,
  idleSharedMicroJoules: decimal,
  idleUnsharedMicroJoules: decimal,
};
const buildAllocationSums = (v: unknown[]) => ({
  idleMicroJoules: v[0],
  idleSharedMicroJoules: v[1],
  idleUnsharedMicroJoules: v[2],
  requestsMicroJoules: v[3],
  unattributedMicroJoules: v[4],
});

const idleBaseline = object({
  source: oneOf('configured', 'learned'),
  powerMilliWatts: milliWatts,
  minPowerMilliWatts: milliWatts,
  maxPowerMilliWatts: milliWatts,
  sampleCount: count,
  idleNanos: decimal,
});

const deviceByMembers = object(
  {
    deviceId: text1,
    probe: text,
    hwType: text,
    name: text,
    vendor: text,
    accounting: oneOf('additive', 'overlapping'),
    simulated: boolean,
    powerLimitMilliWatts: nullable(milliWatts),
    driverVersion: nullable(text),
    wrapRangeMicroJoules: nullable(decimal),
    energySource: oneOf('counter', 'integrated-power', 'none'),
    powerSemantics: oneOf('instant', 'average-1s', 'none'),
    counterStartMicroJoules: nullable(decimal),
    counterEndMicroJoules: nullable(decimal),
    counterEnergyMicroJoules: decimal,
    fallbackEnergyMicroJoules: decimal,
    integratedEnergyMicroJoules: decimal,
    downtimeEnergyMicroJoules: decimal,
    energyMicroJoules: decimal,
    comparedCounterMicroJoules: decimal,
    residualMicroJoules: signedDecimal,
    wrapCount: count,
    discontinuities: arrayOf(
      object({
        reason: oneOf('counter-reset', 'implausible-counter', 'agent-downtime-reset', 'unbridged-gap'),
        fromMicroJoules: decimal,
        toMicroJoules: decimal,
      }),
      10_000,
    ),
    gapCount: count,
    gapNanos: decimal,
    gaps: arrayOf(gap, 32),
    intervalCount: count,
    powerSampleCount: count,
    peakPowerMilliWatts: nullable(milliWatts),
    coveredNanos: decimal,
    unmeasuredReason: nullable(text1),
    attribution: object(
      {
        ...allocationSums,
        deferredMicroJoules: decimal,
        resolved: object(allocationSums, buildAllocationSums),
        outstandingDeferredMicroJoules: decimal,
        idleBaseline: nullable(idleBaseline),
      },
      (v) => ({
        deferredMicroJoules: v[0],
        idleBaseline: v[1],
        idleMicroJoules: v[2],
        idleSharedMicroJoules: v[3],
        idleUnsharedMicroJoules: v[4],
        outstandingDeferredMicroJoules: v[5],
        requestsMicroJoules: v[6],
        resolved: v[7],
        unattributedMicroJoules: v[8],
      }),
    ),
  },
  (v) => ({
    accounting: v[0],
    attribution: v[1],
    comparedCounterMicroJoules: v[2],
    counterEndMicroJoules: v[3],
    counterEnergyMicroJoules: v[4],
    counterStartMicroJoules: v[5],
    coveredNanos: v[6],
    deviceId: v[7],
    discontinuities: v[8],
    downtimeEnergyMicroJoules: v[9],
    driverVersion: v[10],
    energyMicroJoules: v[11],
    energySource: v[12],
    fallbackEnergyMicroJoules: v[13],
    gapCount: v[14],
    gapNanos: v[15],
    gaps: v[16],
    hwType: v[17],
    integratedEnergyMicroJoules: v[18],
    intervalCount: v[19],
    name: v[20],
    peakPowerMilliWatts: v[21],
    powerLimitMilliWatts: v[22],
    powerSampleCount: v[23],
    powerSemantics: v[24],
    probe: v[25],
    residualMicroJoules: v[26],
    simulated: v[27],
    unmeasuredReason: v[28],
    vendor: v[29],
    wrapCount: v[30],
    wrapRangeMicroJoules: v[31],
  }),
);

/** z.discriminatedUnion on `kind`: exactly one variant can parse, since `kind` is a literal in each. */
const eventVariants = [
  object({
    kind: oneOf('key-announcement'),
    keyId: text1,
    publicKeyBase64: text,
    validFrom: rfc3339,
  }),
  object({
    kind: oneOf('agent-start'),
    startedAt: rfc3339,
    chain: oneOf('genesis', 'resumed'),
  }),
];
const event: Parse = (p) => {
  const start = p.pos;
  for (const variant of eventVariants) {
    try {
      return variant(p);
    } catch (error) {
      if (error !== NOT_FAST) throw error;
      p.pos = start;
    }
  }
  return p.fail();
};

/** A device: the usual shape by one regular expression (`device-pattern.ts`), else member by member. */
const device: Parse = (p) => {
  const read = readDevice(p.text, p.pos);
  if (read === null) return deviceByMembers(p);
  p.pos = read.end;
  return read.device;
};

const devices: Parse = (p) => {
  p.devicesStart = p.pos;
  const out = p.array(device, 1024);
  p.devicesEnd = p.pos;
  return out;
};

/** `factorsSchema.nullable()`: null, or an object read as JSON.parse would and held to that schema. */
const factors: Parse = (p) => {
  if (p.isNull()) return null;
  const value = p.anyObject(3);
  return factorsSchema.safeParse(value).success ? value : p.fail();
};

const predicate = object({
  formatVersion: (p) => (p.integer() === 1 ? 1 : p.fail()),
  origin: checked((s) => s.length >= 1 && s.length <= 512 && noControl(s) && ORIGIN.test(s)),
  sequence: decimal,
  previousSha256: nullable(hex64),
  agent,
  window,
  devices,
  totals: object({
    energyMicroJoules: decimal,
    gpuEnergyMicroJoules: decimal,
    cpuEnergyMicroJoules: decimal,
    dramEnergyMicroJoules: decimal,
  }),
  requests: object({ count, merkleRootSha256: hex64, attributionMethod: text }),
  factors,
  events: arrayOf(event, 64),
  simulated: boolean,
});

const statement = object({
  _type: oneOf(STATEMENT_TYPE),
  // z.tuple of one: exactly one element.
  subject: (p) => {
    const items = p.array(object({ name: text, digest: object({ sha256: hex64 }) }), 1);
    return items.length === 1 ? items : p.fail();
  },
  predicateType: oneOf(BATCH_PREDICATE_TYPE),
  predicate,
});

/**
 * Parses the text of a signed payload (already decoded, fatally, from UTF-8) as a canonical batch
 * statement, or returns null where the reference path must decide.
 */
export function parseCanonicalStatementFast(payloadText: string): FastStatement | null {
  // No backslash: no escapes, so every string is the raw text between two quotes.
  if (payloadText.includes('\\') || !wellFormed(payloadText)) return null;
  const p = new Parser(payloadText);
  try {
    // The usual statement: head and tail by regular expressions (`statement-pattern.ts`).
    const head = readStatementHead(payloadText);
    if (head !== null) {
      p.pos = head.end;
      const list = devices(p) as unknown[];
      const value = readStatementTail(payloadText, p.pos, head.agent, list);
      if (value !== null) {
        return {
          statement: value as unknown as BatchStatement,
          devicesStart: p.devicesStart,
          devicesEnd: p.devicesEnd,
        };
      }
      p.pos = 0;
    }
    const value = statement(p);
    if (p.pos !== payloadText.length || p.devicesStart < 0) return null;
    return {
      statement: value as BatchStatement,
      devicesStart: p.devicesStart,
      devicesEnd: p.devicesEnd,
    };
  } catch (error) {
    if (error === NOT_FAST) return null;
    throw error;
  }
}
