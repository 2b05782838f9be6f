/**
 * `wattledger verify` (runVerify) against real ledgers written by the batcher: every key form, a
 * byte changed on disk, a missing segment, usage errors, JSON output, both signature engines and
 * progress. Exit codes: 0 verified, 1 failed (a missing segment included), usage/I/O → CliError.
 */
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64FromBytes } from '../../../src/attest/bytes.js';
import { formatVerifierKey, pemFromEd25519PublicKey } from '../../../src/attest/key-id.js';
import { runVerify, type VerifyOptions } from '../../../src/cli/verify.js';
import { CliError } from '../../../src/errors.js';
import { readLedgerLines } from '../../../src/ledger/reader.js';
import { LedgerVerifier } from '../../../src/verify/verifier.js';
import { TEST_ORIGIN, testSigner, writeLedger } from '../../helpers/ledger-fixture.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

const SEGMENT = 'ledger-000001.jsonl';
const { signer } = testSigner();
const RAW_KEY = base64FromBytes(signer.publicKey);

let root: string;
let cleanup: () => Promise<void>;
let honest: string;
let copies = 0;

beforeAll(async () => {
  ({ dir: root, cleanup } = await makeTmpDir('wattledger-verify-cli-'));
  honest = join(root, 'honest');
  await writeLedger(honest, { ticks: 80, batchIntervalMs: 1000, checkpointEvery: 2 });
});
afterAll(async () => {
  await cleanup();
});

/** A stream that keeps what is written; `isTTY` as given. */
function capture(isTTY = false): Writable & { isTTY: boolean; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return Object.assign(stream, { isTTY, text: () => chunks.join('') });
}

async function verify(options: Partial<VerifyOptions> & { paths: string[] }, stderrTTY = false) {
  const stdout = capture();
  const stderr = capture(stderrTTY);
  const code = await runVerify({ keys: [RAW_KEY], ...options }, { stdout, stderr });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

/** A fresh copy of the honest ledger to damage. */
async function copyOfHonest(): Promise<string> {
  copies += 1;
  const dir = join(root, `copy-${copies}`);
  await cp(honest, dir, { recursive: true });
  return dir;
}

/** Changes one base64 character of line `lineNumber`'s payload in the segment file on disk. */
async function flipPayloadByte(segmentPath: string, lineNumber: number): Promise<void> {
  const lines = (await readFile(segmentPath, 'utf8')).split('\n');
  const line = lines[lineNumber - 1] as string;
  const at = line.indexOf('"payload":"') + '"payload":"'.length + 40;
  lines[lineNumber - 1] = line.slice(0, at) + (line[at] === 'A' ? 'B' : 'A') + line.slice(at + 1);
  await writeFile(segmentPath, lines.join('\n'));
}

/** Re-cuts the one segment into three (the verifier reads them as one log). */
async function splitIntoThreeSegments(dir: string): Promise<void> {
  const lines = (await readFile(join(dir, SEGMENT), 'utf8')).split('\n').filter((l) => l !== '');
  const third = Math.ceil(lines.length / 3);
  for (let part = 0; part < 3; part++) {
    const text = lines.slice(part * third, (part + 1) * third).map((l) => `${l}\n`);
    await writeFile(join(dir, `ledger-00000${part + 1}.jsonl`), text.join(''));
  }
}

describe('runVerify on an honest ledger', () => {
  it.each([
    ['raw base64 text', async () => RAW_KEY],
    ['a PEM file', () => keyFile('key.pem', pemFromEd25519PublicKey(signer.publicKey))],
    ['C2SP verifier key text', async () => formatVerifierKey(TEST_ORIGIN, signer.publicKey)],
  ])('verifies with the key given as %s', async (_form, key) => {
    const { code, stdout } = await verify({ paths: [honest], keys: [await key()] });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^VERIFIED$/m);
    expect(stdout).toContain(`origin       ${TEST_ORIGIN}`);
    expect(stdout).toMatch(/checkpoints {2}[1-9]\d* verified/);
    expect(stdout).toContain('SIMULATED');
  });

  it('verifies with a trusted-keys file', async () => {
    const doc = { keys: [{ publicKey: RAW_KEY, validFrom: '2000-01-01T00:00:00Z' }] };
    const file = await keyFile('trusted.json', JSON.stringify(doc));
    const { code, stdout } = await verify({ paths: [honest], keys: [], trustedKeysFile: file });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^VERIFIED$/m);
  });

  it('prints the report as JSON, equal to the library report over the same files', async () => {
    const { code, stdout } = await verify({ paths: [honest], json: true });
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      ...(await libraryReport(honest)),
      path: honest,
      warnings: [],
      uncoveredBatches: 0,
      recordLines: 0,
    });
  });

  it('accepts segment files and checkpoint notes given one by one', async () => {
    const note = join(honest, 'checkpoint');
    const { code, stdout } = await verify({ paths: [join(honest, SEGMENT), note], json: true });
    expect(code).toBe(0);
    expect(JSON.parse(stdout).checkpointsVerified).toBe(1);
  });

  it('treats a torn tail as a warning: the partial line was never a signed batch', async () => {
    const dir = await copyOfHonest();
    await writeFile(join(dir, SEGMENT), '{"payload":"abc', { flag: 'a' });
    const { code, stdout } = await verify({ paths: [dir] });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^warning: .*partial line/m);
  });
});

describe('runVerify reads everything it is given', () => {
  it('reads the root checkpoint file: garbage there fails', async () => {
    const dir = await copyOfHonest();
    await writeFile(join(dir, 'checkpoint'), 'not a checkpoint\n');
    const { code, stdout } = await verify({ paths: [dir], json: true });
    expect(code).toBe(1);
    expect(JSON.parse(stdout).findings).toEqual([
      expect.objectContaining({
        code: 'VERIFY_MALFORMED',
        check: 'checkpoint',
        location: join(dir, 'checkpoint'),
      }),
    ]);
  });

  it('says how many batches no checkpoint covers', async () => {
    const dir = await copyOfHonest();
    await rm(join(dir, 'checkpoints'), { recursive: true });
    await rm(join(dir, 'checkpoint'));
    const { code, stdout } = await verify({ paths: [dir] });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^warning: no signed checkpoint covers any of the 8 batches/m);
    expect(stdout).toMatch(/^checkpoints {2}0 verified, covering none$/m);
  });

  it('checks records/ against each batch: an edited record fails, an impossible one too', async () => {
    const gpu = 'GPU-5140a7ed-0000-4000-8000-000000000001';
    const dir = join(root, 'with-records');
    await writeLedger(dir, {
      ticks: 40,
      batchIntervalMs: 1000,
      records: (tick) =>
        tick === 5
          ? [
              { requestId: 'small', energyMicroJoules: '100' },
              // 5 kJ on a 700 W GPU in 1 ms: more than 700 W × 1.2 × (1 ms + 2 s of interval edges).
              {
                requestId: 'impossible',
                durationNanos: '1000000',
                devices: [{ deviceId: gpu, microJoules: '5000000000', idleShareMicroJoules: '0' }],
              },
            ]
          : [],
    });
    const clean = await verify({ paths: [dir], json: true });
    expect(JSON.parse(clean.stdout).recordLines).toBe(2);
    expect(JSON.parse(clean.stdout).findings).toEqual([
      expect.objectContaining({ code: 'VERIFY_IMPLAUSIBLE', check: 'record-ceiling', sequence: '0' }),
    ]);
    const recordsFile = join(dir, 'records', SEGMENT);
    const text = await readFile(recordsFile, 'utf8');
    await writeFile(recordsFile, text.replace('"energyMicroJoules":"100"', '"energyMicroJoules":"900"'));
    const edited = await verify({ paths: [dir], json: true });
    expect(edited.code).toBe(1);
    expect(JSON.parse(edited.stdout).findings).toEqual([
      expect.objectContaining({ code: 'VERIFY_MERKLE_ROOT_MISMATCH', check: 'records-root', sequence: '0' }),
    ]);
  });

  it('verifies several ledger directories at once, with a summary per ledger', async () => {
    const damaged = await copyOfHonest();
    await rm(join(damaged, 'checkpoint'));
    const segment = join(damaged, SEGMENT);
    const lines = (await readFile(segment, 'utf8')).split('\n');
    await writeFile(segment, [...lines.slice(0, 2), ...lines.slice(3)].join('\n'));
    const both = await verify({ paths: [honest, damaged] });
    expect(both.code).toBe(1);
    expect(both.stdout).toContain(
      `VERIFIED  ${honest}  origin ${TEST_ORIGIN}, 8 batches, 0 not checkpointed`,
    );
    expect(both.stdout).toMatch(new RegExp(`^FAILED \\(\\d+ findings?\\)  ${damaged}`, 'm'));
    expect(both.stdout).toMatch(/^FAILED: 1 of 2 ledgers$/m);
    const json = JSON.parse((await verify({ paths: [honest, honest], json: true })).stdout);
    expect(json.ok).toBe(true);
    expect(json.ledgers.map((l: { path: string }) => l.path)).toEqual([honest, honest]);
  });
});

describe('runVerify on a damaged ledger', () => {
  it('fails on one flipped byte on disk, naming the file and line', async () => {
    const dir = await copyOfHonest();
    const segment = join(dir, SEGMENT);
    await flipPayloadByte(segment, 4);
    const { code, stdout } = await verify({ paths: [dir] });
    expect(code).toBe(1);
    expect(stdout).toMatch(/^FAILED: \d+ findings?$/m);
    expect(stdout).toContain(`(${segment}:4) signature VERIFY_SIGNATURE_INVALID`);
  });

  it('fails (exit 1, not a usage error) on a missing segment, reporting the reader error', async () => {
    const dir = await copyOfHonest();
    await splitIntoThreeSegments(dir);
    expect((await verify({ paths: [dir] })).code).toBe(0);
    await rm(join(dir, 'ledger-000002.jsonl'));
    const { code, stdout } = await verify({ paths: [dir] });
    expect(code).toBe(1);
    expect(stdout).toMatch(/segments VERIFY_SEQUENCE_GAP: segment ledger-000002\.jsonl is missing/);
  });

  it('fails on an empty ledger directory: nothing verified is not VERIFIED', async () => {
    const empty = join(root, 'empty');
    await mkdir(empty);
    const { code, stdout } = await verify({ paths: [empty] });
    expect(code).toBe(1);
    expect(stdout).toContain('ledger-empty');
  });

  it('gives the same report with the tweetnacl and node:crypto engines', async () => {
    const dir = await copyOfHonest();
    await flipPayloadByte(join(dir, SEGMENT), 2);
    const node = await verify({ paths: [dir], json: true, engine: 'node' });
    const nacl = await verify({ paths: [dir], json: true, engine: 'tweetnacl' });
    expect(node.code).toBe(1);
    expect(JSON.parse(nacl.stdout)).toEqual(JSON.parse(node.stdout));
  });

  it('caps the text output at 100 findings and counts the rest', async () => {
    const { code, stdout } = await verify({ paths: [await manyBatchLedger()], keys: [wrongKey()] });
    expect(code).toBe(1);
    expect(stdout.split('\n').filter((l) => l.startsWith('batch '))).toHaveLength(100);
    expect(stdout).toMatch(/^… and \d+ more findings/m);
  });
});

describe('runVerify usage and I/O errors (thrown for main to map to exit 2)', () => {
  it('refuses to run without a key, with a hint', async () => {
    const error = await rejection(verify({ paths: [honest], keys: [] }));
    expect(error).toMatchObject({ code: 'CLI_USAGE', hint: expect.stringContaining('--key') });
  });

  it('rejects bad key text without echoing it', async () => {
    const secret = 'not-a-key-but-maybe-a-secret';
    const error = await rejection(verify({ paths: [honest], keys: [secret] }));
    expect(error.code).toBe('CLI_USAGE');
    expect(error.message).not.toContain(secret);
  });

  it('reports an unreadable path as CLI_IO and an unknown file kind as CLI_USAGE', async () => {
    expect(await rejection(verify({ paths: [join(root, 'nope')] }))).toMatchObject({ code: 'CLI_IO' });
    const other = await keyFile('notes.txt', 'hello');
    expect(await rejection(verify({ paths: [other] }))).toMatchObject({ code: 'CLI_USAGE' });
  });
});

describe('runVerify progress', () => {
  const LINE = /^verifying: \d+ batches, \d+% of \d+\.\d MiB$/;

  it('writes progress lines to stderr when asked, ending with the final count', async () => {
    const { stderr } = await verify({ paths: [honest], progress: true });
    const lines = stderr.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThanOrEqual(1);
    for (const line of lines) expect(line).toMatch(LINE);
    expect(lines.at(-1)).toMatch(/^verifying: 8 batches, 100% of/);
  });

  it('is silent on a non-TTY stderr by default, and clears its line on a TTY', async () => {
    expect((await verify({ paths: [honest] })).stderr).toBe('');
    const tty = (await verify({ paths: [honest] }, true)).stderr;
    expect(tty).toMatch(/^\rverifying: \d+ batches/);
    expect(tty.endsWith('\r\u001b[K')).toBe(true);
  });
});

async function keyFile(name: string, text: string): Promise<string> {
  const path = join(root, name);
  await writeFile(path, text);
  return path;
}

function wrongKey(): string {
  return base64FromBytes(testSigner(7).signer.publicKey);
}

async function manyBatchLedger(): Promise<string> {
  const dir = join(root, 'many');
  await writeLedger(dir, { ticks: 130, batchIntervalMs: 100, checkpointEvery: 50 });
  return dir;
}

async function rejection(promise: Promise<unknown>): Promise<CliError> {
  const error = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CliError);
  return error as CliError;
}

/** What the library reports for the same files and locations, read without the CLI. */
async function libraryReport(dir: string) {
  const verifier = new LedgerVerifier({ keys: [{ keyId: signer.keyId, publicKey: signer.publicKey }] });
  for (const name of (await readdir(join(dir, 'checkpoints'))).sort()) {
    const path = join(dir, 'checkpoints', name);
    verifier.addCheckpoint(await readFile(path, 'utf8'), path);
  }
  verifier.addCheckpoint(await readFile(join(dir, 'checkpoint'), 'utf8'), join(dir, 'checkpoint'));
  for await (const item of readLedgerLines(dir))
    if (item.kind === 'line') verifier.addLine(item.line, `${item.path}:${item.lineNumber}`);
  return verifier.finish();
}
