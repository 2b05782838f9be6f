import { BATCH_PREDICATE_TYPE, type BatchStatement, STATEMENT_TYPE } from '../attest/batch-format.js';
import { isWellFormedString } from '../attest/bytes.js';
import { readDevice } from './device-pattern.js';
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

/** Thrown (one shared instance, no stack) when the fast path does not apply. */
const NOT_FAST: unique symbol = Symbol('not-fast');

/** Names V8 enumerates first (array index); canonical.ts refuses the fast path for them too. */
const INDEX_LIKE = /^(?:0|[1-9][0-9]{0,9})$/;
/** Well-formed UTF-16 (no lone surrogate); native where the runtime has it. */
const wellFormed: (text: string) => boolean =
  typeof (String.prototype as { isWellFormed?: () => boolean }).isWellFormed === 'function'
    ? (text) => (text as unknown as { isWellFormed: () => boolean }).isWellFormed()
    : isWellFormedString;
/** Deepest nesting of `factors` followed here (the reference path allows 64; deeper goes there). */
const MAX_FACTORS_DEPTH = 32;

type Parse = (p: Parser) => unknown;

class Parser {
  pos = 0;
  devicesStart = -1;
  devicesEnd = -1;
  constructor(readonly text: string) {}

  fail(): never {
    throw NOT_FAST;
  }

  /** Whether `literal` is next (slice and compare: faster than startsWith in V8). */
  at(literal: string): boolean {
    return this.text.slice(this.pos, this.pos + literal.length) === literal;
  }

  expect(literal: string): void {
    if (!this.at(literal)) this.fail();
    this.pos += literal.length;
  }

  /** The one-character token `code` (e.g. `{`) is next; consumes it. */
  char(code: number): void {
    if (this.text.charCodeAt(this.pos) !== code) this.fail();
    this.pos += 1;
  }

  /** A string without escapes (the text holds no backslash). */
  string(): string {
    const { text, pos } = this;
    if (text.charCodeAt(pos) !== 0x22) this.fail();
    const end = text.indexOf('"', pos + 1);
    if (end < 0) this.fail();
    this.pos = end + 1;
    return text.slice(pos + 1, end);
  }

  /**
   * A string holding a decimal integer: `^(0|[1-9]\d{0,29})$`, or with `signed`
   * `^(0|-?[1-9]\d{0,29})$` (the schema's patterns), read in one scan.
   */
  decimal(signed: boolean): string {
    const { text, pos } = this;
    if (text.charCodeAt(pos) !== 0x22) this.fail();
    let i = pos + 1;
    if (signed && text.charCodeAt(i) === 0x2d) i += 1;
    const first = i;
    let c = text.charCodeAt(i);
    while (c >= 0x30 && c <= 0x39) {
      i += 1;
      c = text.charCodeAt(i);
    }
    const digits = i - first;
    if (c !== 0x22 || digits < 1 || digits > 30) this.fail();
    // A leading zero only as "0" itself (no "00", no "-0").
    if (text.charCodeAt(first) === 0x30 && (digits > 1 || first > pos + 1)) this.fail();
    this.pos = i + 1;
    return text.slice(pos + 1, i);
  }

  /** A string of free text: no control character either (JSON.parse refuses them raw). */
  plainString(): string {
    const s = this.string();
    if (!noControl(s)) this.fail();
    return s;
  }

  /** An integer as JSON.stringify writes it (no leading zero, no −0), within ±(2^53 − 1). */
  integer(): number {
    const { text } = this;
    const start = this.pos;
    let i = start;
    if (text.charCodeAt(i) === 0x2d) i += 1;
    const firstDigit = i;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      i += 1;
    }
    const digits = i - firstDigit;
    if (digits === 0 || digits > 16) this.fail();
    if (text.charCodeAt(firstDigit) === 0x30 && (digits > 1 || firstDigit > start)) this.fail();
    const value = Number(text.slice(start, i));
    if (!Number.isSafeInteger(value)) this.fail();
    this.pos = i;
    return value;
  }

  literal<T>(word: string, value: T): T {
    this.expect(word);
    return value;
  }

  boolean(): boolean {
    if (this.at('true')) return this.literal('true', true);
    return this.literal('false', false);
  }

  isNull(): boolean {
    if (!this.at('null')) return false;
    this.pos += 4;
    return true;
  }

  array(item: Parse, max: number): unknown[] {
    this.expect('[');
    const out: unknown[] = [];
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos += 1;
      return out;
    }
    for (;;) {
      out.push(item(this));
      if (out.length > max) this.fail();
      const c = this.text.charCodeAt(this.pos);
      this.pos += 1;
      if (c === 0x5d) return out;
      if (c !== 0x2c) this.fail();
    }
  }

  /** Any canonical JSON value (for `factors`), as JSON.parse would build it. */
  anyValue(depth: number): unknown {
    if (depth > MAX_FACTORS_DEPTH) this.fail();
    const c = this.text.charCodeAt(this.pos);
    if (c === 0x22) return this.plainString();
    if (c === 0x7b) return this.anyObject(depth);
    if (c === 0x5b) return this.array((p) => p.anyValue(depth + 1), Number.MAX_SAFE_INTEGER);
    if (c === 0x74 || c === 0x66) return this.boolean();
    if (this.isNull()) return null;
    return this.integer();
  }

  anyObject(depth: number): Record<string, unknown> {
    this.expect('{');
    const out: Record<string, unknown> = {};
    if (this.text.charCodeAt(this.pos) === 0x7d) {
      this.pos += 1;
      return out;
    }
    let previous: string | null = null;
    for (;;) {
      const key = this.plainString();
      // Strictly increasing names: RFC 8785 order and no duplicates. No index-like names (V8
      // reorders them) and no __proto__ (assigning it would not make a member).
      if ((previous !== null && !(previous < key)) || INDEX_LIKE.test(key) || key === '__proto__')
        this.fail();
      previous = key;
      this.expect(':');
      out[key] = this.anyValue(depth + 1);
      const c = this.text.charCodeAt(this.pos);
      this.pos += 1;
      if (c === 0x7d) return out;
      if (c !== 0x2c) this.fail();
    }
  }
}

// ---------------------------------------------------------------------------------------------
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

/** No control character: JSON.parse refuses them raw in a string (only free text is checked). */
function noControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20) return false;
  return true;
}

const checked =
  (test: (s: string) => boolean): Parse =>
  (p) => {
    const s = p.string();
    if (!test(s)) p.fail();
    return s;
  };
const decimal: Parse = (p) => p.decimal(false);
const signedDecimal: Parse = (p) => p.decimal(true);
const hex64 = checked(isHex64);
const text = checked((s) => s.length <= 512 && noControl(s));
const text1 = checked((s) => s.length >= 1 && s.length <= 512 && noControl(s));
const rfc3339 = checked((s) => RFC3339.test(s));
const oneOf = (...values: string[]): Parse => checked((s) => values.includes(s));
const integer =
  (max: number): Parse =>
  (p) => {
    const n = p.integer();
    if (n < 0 || n > max) p.fail();
    return n;
  };
const count = integer(Number.MAX_SAFE_INTEGER);
const milliWatts = integer(1_000_000_000);
const boolean: Parse = (p) => p.boolean();
const nullable =
  (inner: Parse): Parse =>
  (p) =>
    p.isNull() ? null : inner(p);
const arrayOf =
  (item: Parse, max: number): Parse =>
  (p) =>
    p.array(item, max);

interface Field {
  readonly key: string;
  readonly first: string;
  readonly next: string;
  readonly parse: Parse;
  readonly optional: boolean;
}

/**
 * A closed object (zod strictObject): members in RFC 8785 order, optional ones may be absent.
 * `build`, for shapes without optional members, makes the object from the values in member order
 * as one object literal: V8 builds that far faster than member-by-member stores. It is checked
 * against the shape when the module loads.
 */
function object(
  shape: Record<string, Parse | { optional: Parse }>,
  build?: (values: unknown[]) => Record<string, unknown>,
): Parse {
  const fields: Field[] = Object.keys(shape)
    .sort()
    .map((key) => {
      const spec = shape[key] as Parse | { optional: Parse };
      const optional = typeof spec !== 'function';
      return {
        key,
        first: `"${key}":`,
        next: `,"${key}":`,
        parse: optional ? spec.optional : spec,
        optional,
      };
    });
  if (build) {
    const built = Object.keys(build(fields.map(() => null))).join();
    if (fields.some((f) => f.optional) || built !== fields.map((f) => f.key).join())
      throw new Error(`object builder does not match its shape: ${built}`);
    const n = fields.length;
    return (p) => {
      p.char(0x7b);
      const values: unknown[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const field = fields[i] as Field;
        p.expect(i === 0 ? field.first : field.next);
        values[i] = field.parse(p);
      }
      p.char(0x7d);
      return build(values);
    };
  }
  return (p) => {
    p.char(0x7b);
    const out: Record<string, unknown> = {};
    let first = true;
    for (const field of fields) {
      const name = first ? field.first : field.next;
      if (p.at(name)) {
        p.pos += name.length;
        out[field.key] = field.parse(p);
        first = false;
      } else if (!field.optional) p.fail();
    }
    p.char(0x7d);
    return out;
  };
}

const optional = (parse: Parse): { optional: Parse } => ({ optional: parse });

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
        reason: oneOf('counter-reset', 'implausible-counter', 'agent-downtime-reset'),
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
    vendor: v[28],
    wrapCount: v[29],
    wrapRangeMicroJoules: v[30],
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

/** z.record(z.string(), z.unknown()).nullable(): null or an object (not an array). */
const factors: Parse = (p) => (p.isNull() ? null : p.anyObject(3));

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

/** What a canonical ledger line holds when it has the plain DSSE shape (no other members). */
export interface FastEnvelope {
  readonly payload: string;
  readonly payloadType: string;
  readonly signatures: { keyid?: string; sig: string }[];
}

const BASE64ISH = /^[A-Za-z0-9+/=_-]*$/;
const KEYID = /^[0-9a-f]{0,128}$/;
const PAYLOAD_TYPE = /^[A-Za-z0-9.+/-]{1,128}$/;

/**
 * The envelope of a ledger line written `{"payload":"…","payloadType":"…","signatures":[{"keyid":
 * "…","sig":"…"},…]}`, with base64 signatures, a plain payloadType and hex key ids. Null for any
 * other line (the caller parses it the reference way).
 *
 * The payload string is not scanned here (a regex over it costs as much as the rest of the line):
 * it is only known to hold no quote. So the result counts only once `verifyDsse` has decoded that
 * payload as strict base64 (nothing but the base64 alphabet); if `verifyDsse` refuses it, the
 * caller must start again from JSON.parse. Once both hold, the line is valid JSON, JSON.parse
 * builds this same object, and the line is the RFC 8785 form of it (members in order, nothing to
 * escape).
 */
export function parseEnvelopeCandidate(line: string): FastEnvelope | null {
  const p = new Parser(line);
  try {
    p.expect('{"payload":');
    const payload = p.string();
    p.expect(',"payloadType":');
    const payloadType = p.string();
    if (!PAYLOAD_TYPE.test(payloadType)) return null;
    p.expect(',"signatures":');
    const signatures = p.array((q) => {
      q.expect('{');
      let keyid: string | undefined;
      if (q.at('"keyid":')) {
        q.pos += 8;
        keyid = q.string();
        if (!KEYID.test(keyid)) q.fail();
        q.expect(',');
      }
      q.expect('"sig":');
      const sig = q.string();
      if (sig.length > 1024 || !BASE64ISH.test(sig)) q.fail();
      q.expect('}');
      return keyid === undefined ? { sig } : { keyid, sig };
    }, 16) as { keyid?: string; sig: string }[];
    p.expect('}');
    return p.pos === line.length ? { payload, payloadType, signatures } : null;
  } catch (error) {
    if (error === NOT_FAST) return null;
    throw error;
  }
}
