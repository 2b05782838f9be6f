/**
 * The verifier's fast path (src/verify/canonical-statement.ts) may only accept what the reference
 * path accepts (parseCanonicalJson, the predicateType check and the zod schema), with the same
 * value: checked on a real ledger and on thousands of seeded mutations of its statements and lines.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { BATCH_PREDICATE_TYPE } from '../../../src/attest/batch-format.js';
import { parseBatchStatement } from '../../../src/attest/batch-schema.js';
import { bytesFromBase64, stringFromUtf8 } from '../../../src/attest/bytes.js';
import { canonicalString, parseCanonicalJson } from '../../../src/attest/canonical.js';
import { parseCanonicalStatementFast } from '../../../src/verify/canonical-statement.js';
import { parseEnvelopeCandidate } from '../../../src/verify/fast-envelope.js';
import { ledgerLines, writeLedger } from '../../helpers/ledger-fixture.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';
import { seededBytes } from '../attest/prng.js';

let lines: string[];
let payloads: string[];

beforeAll(async () => {
  const { dir, cleanup } = await makeTmpDir();
  // Key rotation gives key-announcement events; attribution gives an idle baseline per device.
  await writeLedger(dir, {
    ticks: 120,
    batchIntervalMs: 1000,
    rotateFromSeedByte: 9,
    attribution: { idlePowerMilliWatts: 70_000, events: () => [] },
  });
  lines = await ledgerLines(dir);
  payloads = lines.map((line) => stringFromUtf8(bytesFromBase64(JSON.parse(line).payload)));
  await cleanup();
});

/** The reference path's verdict on a payload text: the statement, or null when it refuses it. */
function reference(text: string): unknown | null {
  try {
    const value = parseCanonicalJson(new TextEncoder().encode(text));
    if ((value as { predicateType?: unknown }).predicateType !== BATCH_PREDICATE_TYPE) return null;
    const parsed = parseBatchStatement(value);
    return parsed.ok ? parsed.statement : null;
  } catch {
    return null;
  }
}

/** Checks the one-way agreement on `text`; returns whether the fast path accepted it. */
function agrees(text: string): boolean {
  const fast = parseCanonicalStatementFast(text);
  if (fast === null) return false;
  const expected = reference(text);
  expect(expected, text.slice(0, 200)).not.toBeNull();
  expect(fast.statement).toStrictEqual(expected);
  // Same members in the same (text) order as JSON.parse builds them.
  expect(JSON.stringify(fast.statement)).toBe(text);
  expect(text.slice(fast.devicesStart, fast.devicesEnd)).toBe(
    canonicalString(fast.statement.predicate.devices),
  );
  return true;
}

const VALUES: unknown[] = [
  null,
  true,
  false,
  0,
  1,
  -1,
  1.5,
  2 ** 53,
  1e21,
  '',
  '0',
  '01',
  '-0',
  '-5',
  '12',
  'x',
  'a'.repeat(512),
  'a'.repeat(513),
  '\u0001',
  '\\',
  '"',
  '9'.repeat(30),
  '9'.repeat(31),
  '0123456789abcdef'.repeat(4),
  '0123456789ABCDEF'.repeat(4),
  '2025-11-24T16:00:00.600Z',
  '2025-11-24T16:00:00Z',
  '2025-11-24 16:00:00Z',
  'counter',
  'learned',
  'configured',
  'additive',
  'key-announcement',
  'agent-start',
  'genesis',
  'has space',
  'a+b',
  'é',
  {},
  [],
  { a: 1 },
  { '1': 2 },
  [1, 2],
];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path (member names and indexes) in a parsed value. */
function paths(value: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(prefix);
  if (Array.isArray(value)) for (const [i, v] of value.entries()) paths(v, [...prefix, i], out);
  else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}

function mutateValue(
  root: Json,
  path: (string | number)[],
  pick: (n: number) => number,
  replacement?: Json,
): Json {
  const copy = structuredClone(root);
  if (path.length === 0) return copy;
  let parent = copy as Record<string | number, Json>;
  for (const part of path.slice(0, -1)) parent = parent[part] as Record<string | number, Json>;
  const last = path.at(-1) as string | number;
  const how = pick(6);
  if (how === 0 && !Array.isArray(parent)) delete parent[last];
  else if (how === 1 && !Array.isArray(parent)) parent[`${String(last)}X`] = 'extra';
  else if (how === 2 && Array.isArray(parent)) parent.push(structuredClone(parent[last as number]) as Json);
  else if (how === 3 && Array.isArray(parent)) parent.splice(last as number, 1);
  else
    parent[last] = structuredClone(
      replacement !== undefined ? replacement : VALUES[pick(VALUES.length)],
    ) as Json;
  return copy;
}

describe('parseCanonicalStatementFast', () => {
  it('opens every statement of a real ledger, as the reference path does', () => {
    expect(payloads.length).toBeGreaterThan(5);
    expect(payloads.some((text) => text.includes('"kind":"key-announcement"'))).toBe(true);
    expect(payloads.some((text) => text.includes('"idleBaseline":{'))).toBe(true);
    for (const text of payloads) expect(agrees(text)).toBe(true);
  });

  it('accepts no mutated statement the reference path refuses (value mutations)', () => {
    const random = seededBytes(20261129);
    const pick = (n: number): number => {
      const b = random(4);
      return (((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) % n;
    };
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const original = JSON.parse(payloads[pick(payloads.length)]!) as Json;
      const all = paths(original);
      const mutated = mutateValue(original, all[pick(all.length)]!, pick);
      let text: string;
      try {
        text = pick(8) === 0 ? JSON.stringify(mutated, null, pick(2)) : canonicalString(mutated);
      } catch {
        text = JSON.stringify(mutated);
      }
      if (agrees(text)) accepted += 1;
      else refused += 1;
    }
    // Both outcomes are exercised: valid edits (other numbers, names) and invalid ones.
    expect(accepted).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(1000);
  });

  it('accepts no single-member edit the reference path refuses (every member × every value)', () => {
    // A statement of the usual shape (no events), so every edit meets the regular expressions first.
    const text = payloads.find((t) => t.includes('"events":[]') && t.includes('"idleBaseline":{'));
    expect(text).toBeDefined();
    const original = JSON.parse(text as string) as Json;
    let accepted = 0;
    for (const path of paths(original).slice(1)) {
      const edits: Json[] = VALUES.map((value) => mutateValue(original, path, () => 5, value as Json));
      edits.push(
        mutateValue(original, path, () => 0),
        mutateValue(original, path, () => 1),
      );
      for (const edited of edits) {
        let edit: string;
        try {
          edit = canonicalString(edited);
        } catch {
          continue; // not JSON the signer could have written (a float, 2^53)
        }
        if (agrees(edit)) accepted += 1;
      }
    }
    expect(accepted).toBeGreaterThan(200);
  });

  it('accepts no mutated statement the reference path refuses (text mutations)', () => {
    const random = seededBytes(7);
    const pick = (n: number): number => {
      const b = random(4);
      return (((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) % n;
    };
    const chars = [
      '"',
      '\\',
      ',',
      ':',
      '{',
      '}',
      '[',
      ']',
      ' ',
      '0',
      '1',
      '-',
      'a',
      '\n',
      '\u0000',
      'é',
      'n',
      '.',
      'e',
    ];
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const text = payloads[pick(payloads.length)]!;
      const at = pick(text.length);
      const c = chars[pick(chars.length)]!;
      const how = pick(3);
      const mutated =
        how === 0
          ? text.slice(0, at) + text.slice(at + 1)
          : how === 1
            ? text.slice(0, at) + c + text.slice(at)
            : text.slice(0, at) + c + text.slice(at + 1);
      if (!agrees(mutated)) refused += 1;
    }
    expect(refused).toBeGreaterThan(2000);
  });

  it('opens devices with discontinuities and gaps (member by member) as the reference path does', () => {
    const base = JSON.parse(payloads[0]!) as { predicate: { devices: Record<string, unknown>[] } };
    const [first, ...rest] = base.predicate.devices;
    const edited = {
      ...first,
      discontinuities: [{ fromMicroJoules: '500', reason: 'counter-reset', toMicroJoules: '3' }],
      gaps: [
        {
          bridged: true,
          durationNanos: '7',
          endMonoNanos: null,
          reason: 'probe timeout',
          startMonoNanos: '1',
        },
        {
          bridged: false,
          code: 'E_X',
          durationNanos: '0',
          endMonoNanos: '9',
          reason: '',
          startMonoNanos: null,
        },
      ],
    };
    const text = canonicalString({ ...base, predicate: { ...base.predicate, devices: [edited, ...rest] } });
    expect(agrees(text)).toBe(true);
    const over = canonicalString({
      ...base,
      predicate: { ...base.predicate, devices: [{ ...edited, gaps: Array(33).fill(edited.gaps[0]) }] },
    });
    expect(agrees(over)).toBe(false);
    expect(reference(over)).toBeNull();
  });

  it('opens factor snapshots held to their schema, and leaves the rest to the reference path', () => {
    const base = JSON.parse(payloads[0]!) as { predicate: { factors: unknown } };
    const withFactors = (factors: unknown): string =>
      canonicalString({ ...base, predicate: { ...base.predicate, factors } });
    const snapshot = {
      factorsVersion: 1,
      pueMilli: 1170,
      location: {
        zone: 'SE-SE3',
        zoneName: 'South Central Sweden',
        source: 'electricity-maps',
        dataset: '@tgwf/co2@0.19.0 electricityMaps.yearly2024',
        year: 2024,
        gridIntensityMilligramsCo2ePerKilowattHour: 21000,
        licence: 'ODbL-1.0',
        attribution: 'Electricity Maps',
        note: null,
      },
      market: {
        operatorSupplied: true,
        method: 'ghg-protocol-scope2-market-based',
        gridIntensityMilligramsCo2ePerKilowattHour: 0,
        instrument: 'GO',
        note: 'guarantees of origin 2024',
      },
      water: {
        wueMillilitersPerKilowattHour: 550,
        ewifMillilitersPerKilowattHour: null,
        sources: { wue: 'site meter 2024', ewif: null },
      },
      energySource: { kind: 'contracted', description: 'hydro PPA' },
    };
    expect(agrees(withFactors(snapshot))).toBe(true);
    expect(agrees(withFactors({ ...snapshot, location: null, market: null }))).toBe(true);
    // The reference path accepts this; the fast path hands it over (an escape in a string).
    const quoted = withFactors({
      ...snapshot,
      energySource: { kind: 'grid-mix', description: 'a "quoted" word' },
    });
    expect(parseCanonicalStatementFast(quoted)).toBeNull();
    expect(reference(quoted)).not.toBeNull();
    // Refused by both: an unknown member, a member missing, a wrong type, any other object, an
    // array or a number as factors, and a duplicate member.
    const refused: unknown[] = [
      { ...snapshot, extra: 1 },
      Object.fromEntries(Object.entries(snapshot).filter(([key]) => key !== 'water')),
      { ...snapshot, pueMilli: '1170' },
      { grid: { zone: 'DE' }, pue: '1.2' },
      {},
      [1],
      5,
    ];
    for (const factors of refused) {
      const text = withFactors(factors);
      expect(parseCanonicalStatementFast(text), text.slice(-200)).toBeNull();
      expect(reference(text)).toBeNull();
    }
    const duplicate = withFactors(snapshot).replace('"pueMilli":1170', '"factorsVersion":1');
    expect(parseCanonicalStatementFast(duplicate)).toBeNull();
    expect(reference(duplicate)).toBeNull();
  });
});

describe('parseEnvelopeCandidate', () => {
  it('reads every real ledger line as JSON.parse does', () => {
    for (const line of lines) {
      const candidate = parseEnvelopeCandidate(line);
      expect(candidate).toStrictEqual(JSON.parse(line));
      expect(canonicalString(candidate)).toBe(line);
    }
  });

  it('for mutated lines: a candidate whose base64 decodes is the line parsed, and the line is canonical', () => {
    const random = seededBytes(99);
    const pick = (n: number): number => {
      const b = random(4);
      return (((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) % n;
    };
    const chars = ['"', '\\', ',', ':', '{', '}', '[', ']', ' ', 'A', '=', '-', '_', '\n', '\u0000', 'é'];
    let candidates = 0;
    for (let i = 0; i < 3000; i++) {
      const line = lines[pick(lines.length)]!;
      // Mostly near the ends, where the structure is; sometimes inside the payload.
      const at = pick(4) === 0 ? pick(line.length) : pick(2) ? pick(40) : line.length - 1 - pick(200);
      const c = chars[pick(chars.length)]!;
      const how = pick(3);
      const mutated =
        how === 0
          ? line.slice(0, at) + line.slice(at + 1)
          : how === 1
            ? line.slice(0, at) + c + line.slice(at)
            : line.slice(0, at) + c + line.slice(at + 1);
      const candidate = parseEnvelopeCandidate(mutated);
      if (candidate === null) continue;
      try {
        bytesFromBase64(candidate.payload, { allowUrlSafe: true });
        for (const s of candidate.signatures) bytesFromBase64(s.sig, { allowUrlSafe: true });
      } catch {
        continue; // verifyDsse refuses it, and the verifier starts again from JSON.parse
      }
      candidates += 1;
      expect(JSON.parse(mutated)).toStrictEqual(candidate);
      expect(canonicalString(JSON.parse(mutated))).toBe(mutated);
    }
    expect(candidates).toBeGreaterThan(10);
  });
});
