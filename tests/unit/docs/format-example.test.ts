/**
 * docs/FORMAT.md's worked example, checked three ways:
 * (a) regenerating it from the code gives exactly the bytes committed under docs/examples/;
 * (b) every fenced block of FORMAT.md marked `<!-- example: … -->` equals the file it names, or the
 *     value this test recomputes from the example files;
 * (c) a mini-verifier written here with node:crypto only, from the document's description and
 *     without importing wattledger, accepts the example ledger, its checkpoints and its receipt.
 *
 * After an intended format change: `WATTLEDGER_UPDATE_EXAMPLES=1 npx vitest run tests/unit/docs`,
 * then review the diff of docs/examples/ and update the prose of docs/FORMAT.md.
 */
import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFiles, makeFormatExample } from '../../../scripts/make-format-example.js';
import { verifyReceipt } from '../../../src/verify/receipt.js';
import { LedgerVerifier } from '../../../src/verify/verifier.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EXAMPLES = join(ROOT, 'docs/examples');
const FORMAT_MD = join(ROOT, 'docs/FORMAT.md');
const UPDATE = process.env.WATTLEDGER_UPDATE_EXAMPLES === '1';

// ---------------------------------------------------------------------------------------------
// The independent mini-verifier: node:crypto and the text of docs/FORMAT.md, nothing else.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const sha256 = (data: Uint8Array | string): Buffer => createHash('sha256').update(data).digest();
const hex = (data: Uint8Array): string => Buffer.from(data).toString('hex');

/** RFC 8785 for the subset the format allows: integers, strings, booleans, null, arrays, objects. */
function jcs(value: Json): string {
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`not an integer: ${value}`);
    return String(value);
  }
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(jcs).join(',')}]`;
  // Default sort compares UTF-16 code units, which is RFC 8785's key order.
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${jcs(value[k] as Json)}`).join(',')}}`;
}

/** Strict standard base64 (RFC 4648 §4, padded): decoding and re-encoding must round-trip. */
function base64(text: string): Buffer {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) throw new Error(`not canonical base64: ${text.slice(0, 20)}…`);
  return bytes;
}

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const spkiDer = (raw: Uint8Array): Buffer => Buffer.concat([ED25519_SPKI_PREFIX, raw]);
const keyObject = (raw: Uint8Array): KeyObject =>
  createPublicKey({ key: spkiDer(raw), format: 'der', type: 'spki' });

/** DSSE v1 PAE: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes. */
function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `),
    type,
    Buffer.from(` ${payload.length} `),
    payload,
  ]);
}

const leafHash = (data: Uint8Array): Buffer => sha256(Buffer.concat([Buffer.of(0), data]));
const nodeHash = (l: Uint8Array, r: Uint8Array): Buffer => sha256(Buffer.concat([Buffer.of(1), l, r]));

/** RFC 9162 §2.1.1 MTH over leaf hashes. */
function mth(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) return sha256(Buffer.alloc(0));
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

/** RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or null when the proof is malformed. */
function rootFromProof(index: number, size: number, leaf: Buffer, proof: readonly Buffer[]): Buffer | null {
  if (index >= size) return null;
  let [fn, sn, r] = [index, size - 1, leaf];
  for (const p of proof) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn / 2, Math.floor(sn / 2)];
    } else r = nodeHash(r, p);
    [fn, sn] = [Math.floor(fn / 2), Math.floor(sn / 2)];
  }
  return sn === 0 ? r : null;
}

/** A C2SP verifier key `<name>+<hex8>+<base64(0x01 ‖ key)>`, its key hash checked. */
function parseVerifierKey(vkey: string): { name: string; keyHash: string; raw: Buffer } {
  const [name = '', keyHash = ''] = vkey.split('+', 2);
  const typed = base64(vkey.slice(name.length + keyHash.length + 2));
  expect(typed[0]).toBe(0x01);
  const raw = typed.subarray(1);
  expect(noteKeyHash(name, raw)).toBe(keyHash);
  return { name, keyHash, raw };
}

/** C2SP signed-note key hash: first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key), as 8 hex digits. */
const noteKeyHash = (name: string, raw: Uint8Array): string =>
  hex(sha256(Buffer.concat([Buffer.from(`${name}\n`), Buffer.of(1), raw])).subarray(0, 4));

interface OpenedCheckpoint {
  origin: string;
  size: number;
  root: Buffer;
}

/** Verifies a checkpoint note signed under key name `origin` by `raw`; returns its three lines. */
function openCheckpoint(note: string, origin: string, raw: Buffer): OpenedCheckpoint {
  const split = note.lastIndexOf('\n\n');
  const text = note.slice(0, split + 1);
  const signatureLines = note.slice(split + 2).split('\n');
  expect(signatureLines.pop()).toBe('');
  const [name, sig] = (signatureLines[0] ?? '').replace(/^\u2014 /, '').split(' ');
  expect(signatureLines[0]?.startsWith('\u2014 ')).toBe(true);
  expect(name).toBe(origin);
  const blob = base64(sig ?? '');
  expect(hex(blob.subarray(0, 4))).toBe(noteKeyHash(origin, raw));
  expect(verify(null, Buffer.from(text, 'utf8'), keyObject(raw), blob.subarray(4))).toBe(true);
  const [o = '', size = '', root = '', ...rest] = text.slice(0, -1).split('\n');
  expect(rest).toEqual([]);
  expect(size).toMatch(/^(0|[1-9]\d*)$/);
  return { origin: o, size: Number(size), root: base64(root) };
}

interface Envelope {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

interface Device {
  deviceId: string;
  accounting: string;
  hwType: string;
  energySource: string;
  powerLimitMilliWatts: number | null;
  peakPowerMilliWatts: number | null;
  wrapRangeMicroJoules: string | null;
  counterStartMicroJoules: string | null;
  counterEndMicroJoules: string | null;
  counterEnergyMicroJoules: string;
  fallbackEnergyMicroJoules: string;
  integratedEnergyMicroJoules: string;
  downtimeEnergyMicroJoules: string;
  energyMicroJoules: string;
  comparedCounterMicroJoules: string;
  residualMicroJoules: string;
  wrapCount: number;
  discontinuities: { fromMicroJoules: string; toMicroJoules: string }[];
  coveredNanos: string;
  attribution: AllocationSums & {
    deferredMicroJoules: string;
    resolved: AllocationSums;
    outstandingDeferredMicroJoules: string;
    idleBaseline: { maxPowerMilliWatts: number } | null;
  };
}

interface AllocationSums {
  requestsMicroJoules: string;
  idleMicroJoules: string;
  unattributedMicroJoules: string;
  idleSharedMicroJoules: string;
  idleUnsharedMicroJoules: string;
}

const sumOf = (a: AllocationSums): bigint =>
  BigInt(a.requestsMicroJoules) + BigInt(a.idleMicroJoules) + BigInt(a.unattributedMicroJoules);

/** §3.10 invariant B: the previous outstanding balance (0 for batch 0) + deferred − resolved. */
function outstandingOf(d: Device, previous: Device | undefined): bigint {
  const before = BigInt(previous?.attribution.outstandingDeferredMicroJoules ?? '0');
  return before + BigInt(d.attribution.deferredMicroJoules) - sumOf(d.attribution.resolved);
}

interface Statement {
  _type: string;
  subject: { name: string; digest: { sha256: string } }[];
  predicateType: string;
  predicate: {
    formatVersion: number;
    origin: string;
    sequence: string;
    previousSha256: string | null;
    agent: { keyId: string };
    window: { endUnixNanos: string; startMonoNanos: string; endMonoNanos: string; downtimeNanos: string };
    devices: Device[];
    totals: Record<string, string>;
    requests: { count: number; merkleRootSha256: string };
  };
}

/** Verifies one ledger line: signature over the PAE, canonical payload, types. */
function openLine(line: string, raw: Buffer, keyId: string): { statement: Statement; payload: Buffer } {
  const envelope = JSON.parse(line) as Envelope;
  expect(Object.keys(envelope).sort()).toEqual(['payload', 'payloadType', 'signatures']);
  expect(envelope.payloadType).toBe('application/vnd.in-toto+json');
  const payload = base64(envelope.payload);
  const signed = envelope.signatures.filter((s) => s.keyid === keyId);
  expect(signed.length).toBe(1);
  expect(verify(null, pae(envelope.payloadType, payload), keyObject(raw), base64(signed[0]!.sig))).toBe(true);
  const text = payload.toString('utf8');
  const value = JSON.parse(text) as Json;
  expect(jcs(value)).toBe(text); // the payload is its own RFC 8785 form
  const statement = value as unknown as Statement;
  expect(statement._type).toBe('https://in-toto.io/Statement/v1');
  expect(statement.predicateType).toBe('https://wattledger.dev/energy-batch/v1');
  expect(statement.predicate.formatVersion).toBe(1);
  return { statement, payload };
}

/** The per-batch arithmetic of FORMAT.md §8 (steps 6 and 7; invariant A of §3.10). */
function checkArithmetic(statement: Statement): void {
  const p = statement.predicate;
  expect(statement.subject).toEqual([
    {
      name: `${p.origin}/batch/${p.sequence}`,
      digest: { sha256: hex(sha256(jcs(p.devices as unknown as Json))) },
    },
  ]);
  const sums: Record<string, bigint> = { all: 0n, gpu: 0n, cpu: 0n, dram: 0n };
  for (const d of p.devices) {
    const energy = BigInt(d.energyMicroJoules);
    if (d.energySource === 'counter') {
      let counter = BigInt(d.counterEndMicroJoules!) - BigInt(d.counterStartMicroJoules!);
      counter += BigInt(d.wrapCount) * BigInt(d.wrapRangeMicroJoules ?? '0');
      for (const j of d.discontinuities) counter += BigInt(j.fromMicroJoules) - BigInt(j.toMicroJoules);
      expect(counter).toBe(BigInt(d.counterEnergyMicroJoules));
      expect(BigInt(d.counterEnergyMicroJoules) + BigInt(d.fallbackEnergyMicroJoules)).toBe(energy);
      expect(BigInt(d.downtimeEnergyMicroJoules) <= BigInt(d.counterEnergyMicroJoules)).toBe(true);
    }
    const a = d.attribution;
    expect(sumOf(a) + BigInt(a.deferredMicroJoules)).toBe(energy);
    // Invariant C: idle = shared + unshared, for this batch's splits and the resolved ones.
    for (const sums of [a, a.resolved])
      expect(BigInt(sums.idleSharedMicroJoules) + BigInt(sums.idleUnsharedMicroJoules)).toBe(
        BigInt(sums.idleMicroJoules),
      );
    // Idle ceiling: at most the highest declared baseline over the covered time (0 without one).
    const idleCeiling =
      (BigInt(a.idleBaseline?.maxPowerMilliWatts ?? 0) * BigInt(d.coveredNanos)) / 1_000_000n;
    expect(BigInt(a.idleMicroJoules) <= idleCeiling).toBe(true);
    // The batch's span (§8 step 7): its own window plus downtime, never a device's coveredNanos.
    const span = spanOf(p.window);
    expect(BigInt(d.coveredNanos) <= span).toBe(true);
    if (d.powerLimitMilliWatts !== null) {
      const limit = BigInt(d.powerLimitMilliWatts);
      expect(energy * 1_000_000n * 10n <= limit * span * 12n).toBe(true);
      if (d.peakPowerMilliWatts !== null) expect(BigInt(d.peakPowerMilliWatts) <= 2n * limit).toBe(true);
    }
    const implied = BigInt(d.comparedCounterMicroJoules) - BigInt(d.residualMicroJoules);
    expect(implied >= 0n && implied <= BigInt(d.integratedEnergyMicroJoules)).toBe(true);
    if (d.accounting === 'overlapping') continue;
    sums.all! += energy;
    if (d.hwType in sums && d.hwType !== 'all') sums[d.hwType]! += energy;
  }
  expect(p.totals).toEqual({
    energyMicroJoules: String(sums.all),
    gpuEnergyMicroJoules: String(sums.gpu),
    cpuEnergyMicroJoules: String(sums.cpu),
    dramEnergyMicroJoules: String(sums.dram),
  });
}

// ---------------------------------------------------------------------------------------------
// Values the document quotes, recomputed from the example files with the functions above.

const exampleText = (path: string): string => readFileSync(join(EXAMPLES, path), 'utf8');
const ledgerLinesOf = (path: string): string[] => {
  const text = exampleText(path);
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n');
};

function publicKeyRaw(): Buffer {
  return Buffer.from(exampleText('key/public-key.hex').trim(), 'hex');
}

function payloadOf(sequence: number): Buffer {
  const line = ledgerLinesOf('ledger/ledger-000001.jsonl')[sequence]!;
  return base64((JSON.parse(line) as Envelope).payload);
}

function lineLeaves(): Buffer[] {
  return ledgerLinesOf('ledger/ledger-000001.jsonl').map((l) => leafHash(Buffer.from(l, 'utf8')));
}

function recordsOf(sequence: number): Json[] {
  return ledgerLinesOf('ledger/records/ledger-000001.jsonl')
    .map((l) => JSON.parse(l) as { sequence: string; record: Json })
    .filter((l) => l.sequence === String(sequence))
    .map((l) => l.record);
}

/** `name` → the value FORMAT.md shows for it. `/N` is a batch sequence; `/S/I` record I of batch S. */
function exampleValue(name: string): string {
  const [kind = '', a, b] = name.split('/');
  const n = Number(a);
  switch (kind) {
    case 'seed': {
      const der = base64(exampleText('key/example-signing.key').split('\n').slice(1, -2).join(''));
      return hex(der.subarray(der.length - 32));
    }
    case 'public-key':
      return hex(publicKeyRaw());
    case 'spki-der':
      return hex(spkiDer(publicKeyRaw()));
    case 'key-id':
      return hex(sha256(spkiDer(publicKeyRaw())));
    case 'note-key-hash':
      return noteKeyHash('wattledger/example-host', publicKeyRaw());
    case 'payload-bytes':
      return String(payloadOf(n).length);
    case 'payload-sha256':
      return hex(sha256(payloadOf(n)));
    case 'subject-digest': {
      const statement = JSON.parse(payloadOf(n).toString('utf8')) as Statement;
      return hex(sha256(jcs(statement.predicate.devices as unknown as Json)));
    }
    case 'pae-head': {
      const full = pae('application/vnd.in-toto+json', payloadOf(n));
      const headerBytes = full.length - payloadOf(n).length;
      return `${full.subarray(0, headerBytes + 64).toString('utf8')}…`;
    }
    case 'pae-spec-vector':
      return pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString('utf8');
    case 'leaf-hash':
      return hex(lineLeaves()[n]!);
    case 'node-hash':
      return hex(nodeHash(lineLeaves()[0]!, lineLeaves()[1]!));
    case 'log-root':
      return hex(mth(lineLeaves().slice(0, n)));
    case 'log-root-base64':
      return mth(lineLeaves().slice(0, n)).toString('base64');
    case 'record-leaf':
      return hex(leafHash(Buffer.from(jcs(recordsOf(n)[Number(b)]!))));
    case 'records-root':
      return hex(mth(recordsOf(n).map((r) => leafHash(Buffer.from(jcs(r))))));
    case 'empty-root':
      return hex(sha256(''));
    case 'arithmetic':
      return arithmeticOf(JSON.parse(payloadOf(n).toString('utf8')) as Statement);
    default:
      throw new Error(`FORMAT.md names an example value this test does not know: ${name}`);
  }
}

/** span = (endMono − startMono) + downtime. */
function spanOf(w: { startMonoNanos: string; endMonoNanos: string; downtimeNanos: string }): bigint {
  return BigInt(w.endMonoNanos) - BigInt(w.startMonoNanos) + BigInt(w.downtimeNanos);
}

/** §9's walk through the checks of §8 steps 6 and 7 for a batch's first device, recomputed. */
function arithmeticOf(statement: Statement): string {
  const d = statement.predicate.devices[0]!;
  const big = BigInt;
  const jumps = d.discontinuities.reduce((sum, j) => sum + big(j.fromMicroJoules) - big(j.toMicroJoules), 0n);
  const wrapRange = d.wrapRangeMicroJoules ?? '0';
  const counter =
    big(d.counterEndMicroJoules!) -
    big(d.counterStartMicroJoules!) +
    big(d.wrapCount) * big(wrapRange) +
    jumps;
  const energy = counter + big(d.fallbackEnergyMicroJoules);
  const a = d.attribution;
  const attributed = sumOf(a) + big(a.deferredMicroJoules);
  const r = a.resolved;
  const outstanding = outstandingOf(d, undefined);
  const limit = big(d.powerLimitMilliWatts!);
  const w = statement.predicate.window;
  const span = spanOf(w);
  const ceiling = (limit * span * 12n) / 10_000_000n;
  const implied = big(d.comparedCounterMicroJoules) - big(d.residualMicroJoules);
  return [
    `counter energy      ${d.counterEndMicroJoules} − ${d.counterStartMicroJoules} + ${d.wrapCount} × ${wrapRange} + ${jumps} = ${counter}`,
    `energy              ${counter} + ${d.fallbackEnergyMicroJoules} = ${energy}`,
    `attribution         ${a.requestsMicroJoules} + ${a.idleMicroJoules} + ${a.unattributedMicroJoules} + ${a.deferredMicroJoules} = ${attributed}`,
    `deferred balance    0 + ${a.deferredMicroJoules} − (${r.requestsMicroJoules} + ${r.idleMicroJoules} + ${r.unattributedMicroJoules}) = ${outstanding}`,
    `idle split          ${a.idleSharedMicroJoules} + ${a.idleUnsharedMicroJoules} = ${big(a.idleSharedMicroJoules) + big(a.idleUnsharedMicroJoules)} = idle ${a.idleMicroJoules}`,
    `idle ceiling        ${a.idleBaseline?.maxPowerMilliWatts ?? 0} × ${d.coveredNanos} / 1000000 = ${(big(a.idleBaseline?.maxPowerMilliWatts ?? 0) * big(d.coveredNanos)) / 1_000_000n} ≥ ${a.idleMicroJoules}`,
    `span                ${w.endMonoNanos} − ${w.startMonoNanos} + ${w.downtimeNanos} = ${span} ≥ covered ${d.coveredNanos}`,
    `energy ceiling      ${limit} × ${span} × 12 / 10 / 1000000 = ${ceiling} ≥ ${d.energyMicroJoules}`,
    `power ceiling       ${d.peakPowerMilliWatts} ≤ ${2n * limit}`,
    `implied integrated  ${d.comparedCounterMicroJoules} − (${d.residualMicroJoules}) = ${implied}, within [0, ${d.integratedEnergyMicroJoules}]`,
    `totals              ${statement.predicate.totals.energyMicroJoules} = Σ energy of the additive devices`,
  ].join('\n');
}

interface ExampleBlock {
  readonly marker: string;
  readonly body: string;
}

/** Every `<!-- example: … -->` marker of FORMAT.md with the fenced block right after it. */
function exampleBlocks(doc: string): ExampleBlock[] {
  // A marker is a line of its own; the same text inside prose is not one.
  const markers = [...doc.matchAll(/^<!-- example: (.+?) -->$/gm)].length;
  const blocks = [...doc.matchAll(/^<!-- example: (.+?) -->\n(`{3,})[a-z]*\n([\s\S]*?)\n\2\n/gm)].map(
    (m) => ({
      marker: m[1] ?? '',
      body: m[3] ?? '',
    }),
  );
  expect(blocks.length, 'every example marker is directly followed by a fenced block').toBe(markers);
  return blocks;
}

/** FORMAT.md with every marked block's body replaced by what it must contain (update mode). */
function refreshExampleBlocks(doc: string): string {
  return doc.replace(
    /^(<!-- example: (.+?) -->\n(`{3,})[a-z]*\n)([\s\S]*?)(\n?)(\3\n)/gm,
    (_all, head: string, marker: string, _fence: string, body: string, _nl: string, tail: string) => {
      const fresh =
        marker === 'values'
          ? body.replace(
              /^(\S+)(\s+)\S+$/gm,
              (_row, name: string, gap: string) => `${name}${gap}${exampleValue(name)}`,
            )
          : expectedBody(marker);
      return `${head}${fresh}\n${tail}`;
    },
  );
}

/** What an example block must contain, from its marker. */
function expectedBody(marker: string): string {
  const file = /^file (\S+)(?: line (\d+))?$/.exec(marker);
  if (file) {
    const path = file[1]!.replace(/^docs\/examples\//, '');
    if (file[2] !== undefined) return ledgerLinesOf(path)[Number(file[2]) - 1]!;
    return exampleText(path).replace(/\n$/, '');
  }
  const value = /^value (\S+)$/.exec(marker);
  if (value) return exampleValue(value[1]!);
  throw new Error(`unknown example marker: ${marker}`);
}

// ---------------------------------------------------------------------------------------------

describe('docs/FORMAT.md worked example', () => {
  let generated: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir: generated, cleanup } = await makeTmpDir('wattledger-format-example-'));
    if (UPDATE) await makeFormatExample(EXAMPLES);
    await makeFormatExample(join(generated, 'examples'));
  });
  afterAll(async () => cleanup());

  it('(a) regenerates byte for byte from the code (nothing in it depends on the host or the time)', async () => {
    const fresh = join(generated, 'examples');
    const names = await listFiles(fresh);
    expect(await listFiles(EXAMPLES), 'file list; regenerate with WATTLEDGER_UPDATE_EXAMPLES=1').toEqual(
      names,
    );
    for (const name of names) {
      const [want, got] = await Promise.all([readFile(join(fresh, name)), readFile(join(EXAMPLES, name))]);
      expect(got.equals(want), `docs/examples/${name} differs from what the code writes now`).toBe(true);
    }
  });

  it('(b) quotes every example value exactly as the example files give it', async () => {
    if (UPDATE) await writeFile(FORMAT_MD, refreshExampleBlocks(await readFile(FORMAT_MD, 'utf8')));
    const doc = await readFile(FORMAT_MD, 'utf8');
    const blocks = exampleBlocks(doc);
    for (const { marker, body } of blocks) {
      if (marker === 'values') {
        for (const row of body.split('\n')) {
          const [, name = '', value = ''] = /^(\S+)\s+(\S+)$/.exec(row) ?? [];
          expect(value, `FORMAT.md value ${name || row}`).toBe(exampleValue(name));
        }
      } else expect(body, `FORMAT.md example "${marker}"`).toBe(expectedBody(marker));
    }
    // The document must keep showing the values a verifier author needs.
    const shown = blocks.map((b) => (b.marker === 'values' ? b.body : b.marker)).join('\n');
    for (const needed of [
      'key-id',
      'public-key',
      'note-key-hash',
      'payload-sha256/0',
      'subject-digest/0',
      'leaf-hash/0',
      'log-root/3',
      'records-root/0',
      'pae-head/0',
      'pae-spec-vector',
      'file docs/examples/ledger/ledger-000001.jsonl line 1',
      'file docs/examples/statement-0.json',
      'file docs/examples/ledger/checkpoint',
      'file docs/examples/key/example-signing.key.pub',
      'file docs/examples/key/trusted-keys.json',
      'file docs/examples/receipt-req-0002.receipt',
    ])
      expect(shown, `FORMAT.md shows ${needed}`).toContain(needed);
  });

  it('(c) verifies with a mini-verifier built on node:crypto from the document alone', () => {
    // Keys: the trusted-keys file's C2SP verifier key, and the key id of its SPKI DER.
    const trusted = JSON.parse(exampleText('key/trusted-keys.json')) as {
      keys: { publicKey: string; validFrom: string }[];
    };
    const entry = trusted.keys[0]!;
    const { name: keyName, raw } = parseVerifierKey(entry.publicKey);
    const keyId = hex(sha256(spkiDer(raw)));
    expect(keyId).toBe(exampleText('key/key-id').trim());
    const pem = exampleText('key/example-signing.key.pub').split('\n');
    expect(base64(pem.slice(1, -2).join(''))).toEqual(spkiDer(raw));
    const validFrom = BigInt(Date.parse(entry.validFrom)) * 1_000_000n;

    // Batches: signature, canonical payload, arithmetic, chain, counters, records, key window.
    const lines = ledgerLinesOf('ledger/ledger-000001.jsonl');
    const records = ledgerLinesOf('ledger/records/ledger-000001.jsonl').map(
      (l) => JSON.parse(l) as { sequence: string; index: number; record: Json },
    );
    let previous: { payload: Buffer; statement: Statement } | null = null;
    for (const [index, line] of lines.entries()) {
      const { statement, payload } = openLine(line, raw, keyId);
      const p = statement.predicate;
      expect(p.sequence).toBe(String(index));
      expect(p.origin).toBe(keyName);
      expect(p.agent.keyId).toBe(keyId);
      expect(BigInt(p.window.endUnixNanos) >= validFrom).toBe(true);
      expect(p.previousSha256).toBe(previous === null ? null : hex(sha256(previous.payload)));
      checkArithmetic(statement);
      for (const d of p.devices) {
        const before = previous?.statement.predicate.devices.find((x) => x.deviceId === d.deviceId);
        if (before?.counterEndMicroJoules)
          expect(d.counterStartMicroJoules).toBe(before.counterEndMicroJoules);
        expect(BigInt(d.attribution.outstandingDeferredMicroJoules)).toBe(outstandingOf(d, before));
      }
      const mine = records.filter((r) => r.sequence === p.sequence);
      expect(mine.map((r) => r.index)).toEqual(mine.map((_, i) => i));
      expect(p.requests.count).toBe(mine.length);
      expect(p.requests.merkleRootSha256).toBe(
        hex(mth(mine.map((r) => leafHash(Buffer.from(jcs(r.record)))))),
      );
      previous = { payload, statement };
    }

    // §3.10/§3.11: the last batch leaves nothing outstanding, so over the ledger the records'
    // comprehensive IT energy (active + idle share + host) is Σ (requests + idleShared) of the
    // batches, fresh and resolved, to the µJ; the rest of the energy went to no request.
    const statements = lines.map((line) => openLine(line, raw, keyId).statement);
    const last = statements.at(-1)!.predicate.devices;
    expect(last.every((d) => d.attribution.outstandingDeferredMicroJoules === '0')).toBe(true);
    let toRequests = 0n;
    let measured = 0n;
    for (const { predicate } of statements) {
      for (const { attribution: a, energyMicroJoules } of predicate.devices) {
        toRequests += BigInt(a.requestsMicroJoules) + BigInt(a.resolved.requestsMicroJoules);
        toRequests += BigInt(a.idleSharedMicroJoules) + BigInt(a.resolved.idleSharedMicroJoules);
        measured += BigInt(energyMicroJoules);
      }
    }
    let comprehensive = 0n;
    for (const { record } of records) {
      const r = record as { comprehensive: Record<string, string> };
      const c = r.comprehensive;
      const parts =
        BigInt(c.activeEnergyMicroJoules!) +
        BigInt(c.idleShareMicroJoules!) +
        BigInt(c.hostEnergyMicroJoules!);
      expect(BigInt(c.itEnergyMicroJoules!)).toBe(parts);
      comprehensive += parts;
    }
    expect(comprehensive).toBe(toRequests);
    expect(comprehensive > 0n && comprehensive < measured).toBe(true);

    // The log: leaves are the lines' bytes; every checkpoint signs the root at its size.
    const leaves = lineLeaves();
    const notes = ['checkpoint-000000000002.note', 'checkpoint-000000000003.note'];
    for (const name of notes) {
      const cp = openCheckpoint(exampleText(`ledger/checkpoints/${name}`), keyName, raw);
      expect(name).toBe(`checkpoint-${String(cp.size).padStart(12, '0')}.note`);
      expect(cp.origin).toBe(keyName);
      expect(hex(cp.root)).toBe(hex(mth(leaves.slice(0, cp.size))));
    }
    expect(exampleText('ledger/checkpoint')).toBe(exampleText(`ledger/checkpoints/${notes.at(-1)}`));

    // The receipt: record → batch's record root; batch line → checkpoint root.
    const receipt = JSON.parse(exampleText('receipt-req-0002.receipt')) as {
      receiptVersion: number;
      requestId: string;
      record: Json & { requestId: string };
      recordIndex: number;
      recordProof: string[];
      batch: Envelope;
      batchIndex: number;
      batchProof: string[];
      checkpoint: string;
    };
    expect(receipt.receiptVersion).toBe(1);
    expect(receipt.record.requestId).toBe(receipt.requestId);
    const batchLine = jcs(receipt.batch as unknown as Json);
    expect(batchLine).toBe(lines[receipt.batchIndex]);
    const { statement } = openLine(batchLine, raw, keyId);
    expect(statement.predicate.sequence).toBe(String(receipt.batchIndex));
    const recordRoot = rootFromProof(
      receipt.recordIndex,
      statement.predicate.requests.count,
      leafHash(Buffer.from(jcs(receipt.record))),
      receipt.recordProof.map((h) => Buffer.from(h, 'hex')),
    );
    expect(recordRoot && hex(recordRoot)).toBe(statement.predicate.requests.merkleRootSha256);
    const cp = openCheckpoint(receipt.checkpoint, statement.predicate.origin, raw);
    const logRoot = rootFromProof(
      receipt.batchIndex,
      cp.size,
      leafHash(Buffer.from(batchLine)),
      receipt.batchProof.map((h) => Buffer.from(h, 'hex')),
    );
    expect(logRoot && hex(logRoot)).toBe(hex(cp.root));
  });

  it('(c) the mini-verifier is not vacuous: one changed byte of a line, a note or a proof fails it', () => {
    const raw = publicKeyRaw();
    const keyId = hex(sha256(spkiDer(raw)));
    const line = ledgerLinesOf('ledger/ledger-000001.jsonl')[0]!;
    const envelope = JSON.parse(line) as Envelope;
    const payload = base64(envelope.payload);
    // The first device's energy gains a different leading digit (e.g. 103.8 J becomes 203.8 J).
    const energy = (JSON.parse(payload.toString('utf8')) as { predicate: { devices: Device[] } }).predicate
      .devices[0]!.energyMicroJoules;
    const at = payload.indexOf(`"energyMicroJoules":"${energy}"`) + '"energyMicroJoules":"'.length;
    payload[at] = (payload[at] === '2'.charCodeAt(0) ? '3' : '2').charCodeAt(0);
    const forged = jcs({ ...envelope, payload: payload.toString('base64') } as unknown as Json);
    expect(() => openLine(line, raw, keyId)).not.toThrow();
    expect(() => openLine(forged, raw, keyId)).toThrow();
    const note = exampleText('ledger/checkpoint');
    expect(() => openCheckpoint(note.replace('\n3\n', '\n4\n'), 'wattledger/example-host', raw)).toThrow();
    const leaves = lineLeaves();
    const proof = [leaves[1]!, leaves[2]!];
    expect(rootFromProof(0, 3, leaves[0]!, proof)).toEqual(mth(leaves));
    expect(rootFromProof(0, 3, leaves[0]!, proof.slice(0, 1))).toBeNull();
    expect(rootFromProof(1, 3, leaves[0]!, proof)).not.toEqual(mth(leaves));
  });

  it('is accepted by the library verifier too, with the same public key', () => {
    const raw = publicKeyRaw();
    const keys = [{ keyId: hex(sha256(spkiDer(raw))), publicKey: new Uint8Array(raw) }];
    const verifier = new LedgerVerifier({ keys });
    for (const name of ['checkpoint-000000000002.note', 'checkpoint-000000000003.note'])
      verifier.addCheckpoint(exampleText(`ledger/checkpoints/${name}`), name);
    for (const [i, line] of ledgerLinesOf('ledger/ledger-000001.jsonl').entries())
      verifier.addLine(line, `line ${i + 1}`);
    const report = verifier.finish();
    expect(report.findings).toEqual([]);
    expect(report).toMatchObject({ ok: true, batches: 3, checkpointsVerified: 2, simulated: true });
    const receipt = verifyReceipt(JSON.parse(exampleText('receipt-req-0002.receipt')), keys);
    expect(receipt.findings).toEqual([]);
    expect(receipt.ok).toBe(true);
  });
});
