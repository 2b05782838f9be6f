/**
 * Writes the worked example of docs/FORMAT.md §9: a small real ledger signed with a published test
 * key (seed bytes 0x01..0x20), on a manual clock and simulated GPUs, so every byte is reproducible.
 * `tests/unit/docs/format-example.test.ts` regenerates it in a temporary directory and requires
 * byte equality with `docs/examples/`, so the document cannot drift from the code.
 *
 * Regenerate after an intended format change:
 *
 *     WATTLEDGER_UPDATE_EXAMPLES=1 npx vitest run tests/unit/docs
 *
 * or, after `npm run build`, `node dist/scripts/make-format-example.js [outDir]`.
 *
 * Everything that would vary between runs is fixed here and only here: the key (a public seed),
 * the clocks (a manual clock starting at 2025-11-24T16:00:00Z), the run id, the host identity,
 * the software version and configuration digest (literals, so a release does not change the
 * example), and the request records. The daemon fills these from the host, `randomUUID()` and
 * the configuration; their format is the same.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { WireAgent } from '../src/attest/batch-format.js';
import { base64FromBytes, bytesFromBase64, hexFromBytes, stringFromUtf8 } from '../src/attest/bytes.js';
import { canonicalBytes } from '../src/attest/canonical.js';
import { tweetnaclSigner } from '../src/attest/ed25519.js';
import { nodePrivateKeyFromSeed } from '../src/attest/ed25519-node.js';
import { formatVerifierKey, pemFromEd25519PublicKey } from '../src/attest/key-id.js';
import { sha256 } from '../src/attest/sha256.js';
import { type Clock, rfc3339 } from '../src/clock.js';
import { Batcher } from '../src/ledger/batcher.js';
import { loadChainState } from '../src/ledger/chain-state.js';
import { buildReceipt } from '../src/ledger/receipt-builder.js';
import { RecordLog, type RequestRecord } from '../src/ledger/record-log.js';
import { LedgerStore } from '../src/ledger/store.js';
import { Meter } from '../src/meter/meter.js';
import { SimulatedGpuProbe } from '../src/probes/simulated.js';
import { NANOS_PER_MILLI } from '../src/units.js';

/** The example's signing key seed: bytes 0x01, 0x02, …, 0x20. Public: never sign real data with it. */
export const EXAMPLE_SEED = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
export const EXAMPLE_HOST_ID = 'example-host';
export const EXAMPLE_ORIGIN = `wattledger/${EXAMPLE_HOST_ID}`;
/** 2025-11-24T16:00:00Z, the manual clock's start. */
export const EXAMPLE_START_UNIX_NANOS = 1_764_000_000_000n * NANOS_PER_MILLI;
const EXAMPLE_START_MONO_NANOS = 1_000_000_000n;
const TICKS = 12;
const TICK_MS = 100;
const BATCH_INTERVAL_MS = 500;
const CHECKPOINT_EVERY = 2;
/** The request whose receipt the example shows: record 1 of batch 0, so both proofs are non-empty. */
export const EXAMPLE_RECEIPT_REQUEST_ID = 'req-0002';

/** Request records added before meter tick `tick` (tick 3 lands in batch 0, tick 7 in batch 1). */
const RECORDS: Readonly<Record<number, readonly RequestRecord[]>> = {
  3: [{ requestId: 'req-0001' }, { requestId: 'req-0002' }],
  7: [{ requestId: 'req-0003' }],
};

/** A clock that moves only when told; wall and monotonic time advance together. */
class ExampleClock implements Clock {
  private mono = EXAMPLE_START_MONO_NANOS;
  private wall = EXAMPLE_START_UNIX_NANOS;
  monoNanos(): bigint {
    return this.mono;
  }
  wallUnixNanos(): bigint {
    return this.wall;
  }
  advanceMillis(millis: number): void {
    this.mono += BigInt(millis) * NANOS_PER_MILLI;
    this.wall += BigInt(millis) * NANOS_PER_MILLI;
  }
}

/** The example's agent identity: literals where the daemon would ask the host. */
export function exampleAgent(keyId: string): WireAgent {
  return {
    hostId: EXAMPLE_HOST_ID,
    hostIdSource: 'hostname',
    hostname: EXAMPLE_HOST_ID,
    keyId,
    softwareVersion: '0.1.0',
    // SHA-256 of the canonical JSON `{}`: a configuration digest of the right shape.
    configSha256: hexFromBytes(sha256(canonicalBytes({}))),
    runId: '00000000-0000-4000-8000-000000000001',
  };
}

/** Writes the signed ledger: 1 simulated GPU, 12 ticks of 100 ms, batches every 500 ms. */
async function writeExampleLedger(dir: string): Promise<void> {
  const clock = new ExampleClock();
  const probe = new SimulatedGpuProbe({
    gpuCount: 1,
    name: 'Sim',
    idlePowerMilliWatts: 70_000,
    maxPowerMilliWatts: 700_000,
    seed: 3,
    clock,
  });
  const inventory = await probe.open();
  const meter = new Meter([{ probe, devices: inventory.devices, intervalMs: TICK_MS }], {
    clock,
    readTimeoutMs: 1000,
  });
  const store = await LedgerStore.open({ dir });
  const records = new RecordLog(await LedgerStore.open({ dir: join(dir, 'records') }));
  const signer = tweetnaclSigner(EXAMPLE_SEED);
  const state = await loadChainState(dir);
  const batcher = new Batcher({
    store,
    records,
    state,
    signer,
    noteSigner: { name: EXAMPLE_ORIGIN, signer },
    origin: EXAMPLE_ORIGIN,
    agent: exampleAgent(signer.keyId),
    devices: inventory.devices,
    clock,
    batchIntervalMs: BATCH_INTERVAL_MS,
    maxRecordsPerBatch: 1000,
    checkpointEveryBatches: CHECKPOINT_EVERY,
    // What the daemon's first batch of a new ledger carries (src/cli/ledger-wiring.ts).
    startEvents: [{ kind: 'agent-start', startedAt: rfc3339(clock.wallUnixNanos()), chain: 'genesis' }],
  });
  meter.subscribe((tick) => batcher.onTick(tick));
  for (let tick = 0; tick < TICKS; tick++) {
    for (const record of RECORDS[tick] ?? []) batcher.addRecord(record);
    await meter.tickAll();
    clock.advanceMillis(TICK_MS);
  }
  await batcher.stop();
  await store.close();
  await records.close();
  await probe.close();
}

/** The public key in every form a verifier accepts, and the private key file it came from. */
async function writeKeys(dir: string): Promise<void> {
  const signer = tweetnaclSigner(EXAMPLE_SEED);
  const pkcs8 = nodePrivateKeyFromSeed(EXAMPLE_SEED).export({ format: 'pem', type: 'pkcs8' }).toString();
  const verifierKey = formatVerifierKey(EXAMPLE_ORIGIN, signer.publicKey);
  const trustedKeys = {
    keys: [
      {
        publicKey: verifierKey,
        validFrom: '2025-11-24T00:00:00Z',
        note: 'worked example of docs/FORMAT.md; the seed is public, trust it nowhere else',
      },
    ],
  };
  await mkdir(dir, { recursive: true });
  const files: Record<string, string> = {
    'example-signing.key': pkcs8,
    'example-signing.key.pub': pemFromEd25519PublicKey(signer.publicKey),
    'public-key.base64': `${base64FromBytes(signer.publicKey)}\n`,
    'public-key.hex': `${hexFromBytes(signer.publicKey)}\n`,
    'key-id': `${signer.keyId}\n`,
    'verifier-key': `${verifierKey}\n`,
    'trusted-keys.json': `${JSON.stringify(trustedKeys, null, 2)}\n`,
  };
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
}

/** The first batch's payload, decoded and pretty-printed for people (the signed bytes are compact). */
async function writeFirstStatement(ledgerDir: string, out: string): Promise<void> {
  const segment = await readFile(join(ledgerDir, 'ledger-000001.jsonl'), 'utf8');
  const first = JSON.parse(segment.slice(0, segment.indexOf('\n'))) as { payload: string };
  const statement = JSON.parse(stringFromUtf8(bytesFromBase64(first.payload))) as unknown;
  await writeFile(out, `${JSON.stringify(statement, null, 2)}\n`);
}

/**
 * Writes the whole example into `outDir` (emptied first): `key/`, `ledger/` (segments,
 * `checkpoint`, `checkpoints/`, `records/`), `statement-0.json` and the receipt of
 * {@link EXAMPLE_RECEIPT_REQUEST_ID} as `wattledger receipt` writes it.
 */
export async function makeFormatExample(outDir: string): Promise<void> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const ledgerDir = join(outDir, 'ledger');
  await writeExampleLedger(ledgerDir);
  await writeKeys(join(outDir, 'key'));
  await writeFirstStatement(ledgerDir, join(outDir, 'statement-0.json'));
  // Exactly what `wattledger receipt` prints. Named `.receipt`, not `.json`, so that the JSON
  // formatter of `npm run lint` leaves these bytes alone.
  const receipt = await buildReceipt(ledgerDir, EXAMPLE_RECEIPT_REQUEST_ID);
  await writeFile(
    join(outDir, `receipt-${EXAMPLE_RECEIPT_REQUEST_ID}.receipt`),
    `${JSON.stringify(receipt, null, 2)}\n`,
  );
}

/** Every regular file under `dir`, as sorted paths relative to it (`/`-separated). */
export async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await listFiles(dir, path)));
    else out.push(path);
  }
  return out.sort();
}

const invokedPath = process.argv[1];
if (invokedPath !== undefined && import.meta.url === pathToFileURL(resolve(invokedPath)).href) {
  const outDir = process.argv[2] ?? 'docs/examples';
  await makeFormatExample(outDir);
  process.stdout.write(`wrote ${(await listFiles(outDir)).length} files to ${outDir}\n`);
}
