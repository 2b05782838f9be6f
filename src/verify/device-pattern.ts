/**
 * One device of a canonical batch statement read by a single sticky regular expression: the
 * usual device (no discontinuities, no gaps, measured) in canonical form, every member checked against the
 * batch format v1 schema (the same rules as `canonical-statement.ts`), in native regex code.
 * Anything else does not match, and `canonical-statement.ts` reads that device member by member.
 * Only for text known to hold no backslash.
 */

export const DEC = '"(0|[1-9]\\d{0,29})"';
export const SIGNED_DEC = '"(0|-?[1-9]\\d{0,29})"';
/** Free text: at most 512 UTF-16 units, no quote, backslash or control character. */
export const TEXT = '"([^"\\\\\\u0000-\\u001f]{0,512})"';
export const TEXT1 = '"([^"\\\\\\u0000-\\u001f]{1,512})"';
/** A non-negative integer of at most 16 digits; its bound is checked on the Number. */
export const INT = '(0|[1-9]\\d{0,15})';
export const BOOL = '(true|false)';
export const nullable = (pattern: string): string => `(?:null|${pattern})`;
const oneOf = (...values: string[]): string => `"(${values.join('|')})"`;

/** `{"a":…,"b":…}` from members given in RFC 8785 order (checked). */
export function object(members: readonly (readonly [string, string])[]): string {
  const names = members.map(([name]) => name);
  if (names.join() !== [...names].sort().join()) throw new Error(`members out of order: ${names.join()}`);
  return `\\{${members.map(([name, pattern], i) => `${i === 0 ? '' : ','}"${name}":${pattern}`).join('')}\\}`;
}

const ALLOCATION = object([
  ['idleMicroJoules', DEC],
  ['idleSharedMicroJoules', DEC],
  ['idleUnsharedMicroJoules', DEC],
  ['requestsMicroJoules', DEC],
  ['unattributedMicroJoules', DEC],
]);

// The capture groups, in order, are the numbers in the comments: `build` reads them by number.
const DEVICE = new RegExp(
  object([
    ['accounting', oneOf('additive', 'overlapping')], // 1
    [
      'attribution',
      object([
        ['deferredMicroJoules', DEC], // 2
        [
          'idleBaseline',
          // 3: the whole baseline (undefined for null); 4–9 its members
          nullable(
            `(${object([
              ['idleNanos', DEC],
              ['maxPowerMilliWatts', INT],
              ['minPowerMilliWatts', INT],
              ['powerMilliWatts', INT],
              ['sampleCount', INT],
              ['source', oneOf('configured', 'learned')],
            ])})`,
          ),
        ],
        ['idleMicroJoules', DEC], // 10
        ['idleSharedMicroJoules', DEC], // 11
        ['idleUnsharedMicroJoules', DEC], // 12
        ['outstandingDeferredMicroJoules', DEC], // 13
        ['requestsMicroJoules', DEC], // 14
        ['resolved', ALLOCATION], // 15–19
        ['unattributedMicroJoules', DEC], // 20
      ]),
    ],
    ['comparedCounterMicroJoules', DEC], // 21
    ['counterEndMicroJoules', nullable(DEC)], // 22
    ['counterEnergyMicroJoules', DEC], // 23
    ['counterStartMicroJoules', nullable(DEC)], // 24
    ['coveredNanos', DEC], // 25
    ['deviceId', TEXT1], // 26
    ['discontinuities', '\\[\\]'],
    ['downtimeEnergyMicroJoules', DEC], // 27
    ['driverVersion', nullable(TEXT)], // 28
    ['energyMicroJoules', DEC], // 29
    ['energySource', oneOf('counter', 'integrated-power', 'none')], // 30
    ['fallbackEnergyMicroJoules', DEC], // 31
    ['gapCount', INT], // 32
    ['gapNanos', DEC], // 33
    ['gaps', '\\[\\]'],
    ['hwType', TEXT], // 34
    ['integratedEnergyMicroJoules', DEC], // 35
    ['intervalCount', INT], // 36
    ['name', TEXT], // 37
    ['peakPowerMilliWatts', nullable(INT)], // 38
    ['powerLimitMilliWatts', nullable(INT)], // 39
    ['powerSampleCount', INT], // 40
    ['powerSemantics', oneOf('instant', 'average-1s', 'none')], // 41
    ['probe', TEXT], // 42
    ['residualMicroJoules', SIGNED_DEC], // 43
    ['simulated', BOOL], // 44
    ['unmeasuredReason', 'null'],
    ['vendor', TEXT], // 45
    ['wrapCount', INT], // 46
    ['wrapRangeMicroJoules', nullable(DEC)], // 47
  ]),
  'y',
);

const MAX_MILLIWATTS = 1_000_000_000;

/** A count (0 … 2^53 − 1) or null; undefined when out of range. */
export function count(text: string): number | undefined {
  const n = Number(text);
  return n <= Number.MAX_SAFE_INTEGER ? n : undefined;
}

function milliWatts(text: string | undefined): number | null | undefined {
  if (text === undefined) return null;
  const n = Number(text);
  return n <= MAX_MILLIWATTS ? n : undefined;
}

/**
 * The device whose canonical text starts at `pos`, and where it ends; null when this pattern does
 * not read it (the caller then reads it member by member).
 */
export function readDevice(text: string, pos: number): { device: unknown; end: number } | null {
  DEVICE.lastIndex = pos;
  const m = DEVICE.exec(text);
  if (m === null) return null;
  const g = m as unknown as (string | undefined)[];
  const gapCount = count(g[32] as string);
  const intervalCount = count(g[36] as string);
  const powerSampleCount = count(g[40] as string);
  const wrapCount = count(g[46] as string);
  const peak = milliWatts(g[38]);
  const limit = milliWatts(g[39]);
  let idleBaseline: unknown = null;
  if (g[3] !== undefined) {
    const max = milliWatts(g[5]);
    const min = milliWatts(g[6]);
    const power = milliWatts(g[7]);
    const samples = count(g[8] as string);
    if (max === undefined || min === undefined || power === undefined || samples === undefined) return null;
    idleBaseline = {
      idleNanos: g[4],
      maxPowerMilliWatts: max,
      minPowerMilliWatts: min,
      powerMilliWatts: power,
      sampleCount: samples,
      source: g[9],
    };
  }
  if (
    gapCount === undefined ||
    intervalCount === undefined ||
    powerSampleCount === undefined ||
    wrapCount === undefined ||
    peak === undefined ||
    limit === undefined
  )
    return null;
  const device = {
    accounting: g[1],
    attribution: {
      deferredMicroJoules: g[2],
      idleBaseline,
      idleMicroJoules: g[10],
      idleSharedMicroJoules: g[11],
      idleUnsharedMicroJoules: g[12],
      outstandingDeferredMicroJoules: g[13],
      requestsMicroJoules: g[14],
      resolved: {
        idleMicroJoules: g[15],
        idleSharedMicroJoules: g[16],
        idleUnsharedMicroJoules: g[17],
        requestsMicroJoules: g[18],
        unattributedMicroJoules: g[19],
      },
      unattributedMicroJoules: g[20],
    },
    comparedCounterMicroJoules: g[21],
    counterEndMicroJoules: g[22] ?? null,
    counterEnergyMicroJoules: g[23],
    counterStartMicroJoules: g[24] ?? null,
    coveredNanos: g[25],
    deviceId: g[26],
    discontinuities: [],
    downtimeEnergyMicroJoules: g[27],
    driverVersion: g[28] ?? null,
    energyMicroJoules: g[29],
    energySource: g[30],
    fallbackEnergyMicroJoules: g[31],
    gapCount,
    gapNanos: g[33],
    gaps: [],
    hwType: g[34],
    integratedEnergyMicroJoules: g[35],
    intervalCount,
    name: g[37],
    peakPowerMilliWatts: peak,
    powerLimitMilliWatts: limit,
    powerSampleCount,
    powerSemantics: g[41],
    probe: g[42],
    residualMicroJoules: g[43],
    simulated: g[44] === 'true',
    unmeasuredReason: null,
    vendor: g[45],
    wrapCount,
    wrapRangeMicroJoules: g[47] ?? null,
  };
  return { device, end: DEVICE.lastIndex };
}
