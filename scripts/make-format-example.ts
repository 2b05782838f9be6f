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
 * example), the request events and the factors. The daemon fills these from the host,
 * `randomUUID()`, its proxy and the configuration; their format is the same. The records come from
 * the real attributor, with both boundaries applied as the daemon's pipeline does.
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
import { Attributor } from '../src/attribution/attributor.js';
import { type Clock, rfc3339 } from '../src/clock.js';
import { configSchema } from '../src/config/schema.js';
import { recordActiveImpact, recordComprehensiveImpact } from '../src/factors/record-impact.js';
import { buildFactorSnapshot } from '../src/factors/snapshot.js';
import { Batcher } from '../src/ledger/batcher.js';
import { loadChainState } from '../src/ledger/chain-state.js';
import { buildReceipt } from '../src/ledger/receipt-builder.js';
import { RecordLog } from '../src/ledger/record-log.js';
import { LedgerStore } from '../src/ledger/store.js';
import { Meter } from '../src/meter/meter.js';
import { SimulatedGpuProbe } from '../src/probes/simulated.js';
import type { RequestEvent, RequestUsage } from '../src/requests/types.js';
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

const ENGINE_ID = 'example-engine';
const MODEL = 'example-model';
/** The configured idle power of the GPU (attribution.idlePowerMilliWatts). */
const IDLE_POWER_MILLI_WATTS = 70_000;
/** The factors: a fixed intensity (not the package's data, so a data update leaves the example alone). */
const EXAMPLE_FACTORS = configSchema.parse({
  factors: {
    zone: 'DE',
    gridIntensityMilligramsPerKilowattHour: 350_000,
    gridIntensityNote: 'worked example of docs/FORMAT.md: a round figure, not a measurement',
    pueMilli: 1200,
  },
}).factors;

/**
 * The requests, as the proxy would report them (ms after the clock's start). req-0001 and
 * req-0002 overlap and end before tick 4, so their records are sealed into batch 0; req-0003 ends
 * before tick 8, in batch 1. From 400 to 600 ms and after 800 ms no request is in flight: that idle
 * energy stays unshared.
 */
const REQUESTS: readonly {
  readonly id: string;
  readonly startMs: number;
  readonly chunksMs: readonly number[];
  readonly endMs: number;
  readonly usage: RequestUsage;
}[] = [
  {
    id: 'req-0001',
    startMs: 50,
    chunksMs: [120, 180, 240],
    endMs: 250,
    usage: { inputTokens: 100, cachedInputTokens: 20, outputTokens: 12 },
  },
  {
    id: 'req-0002',
    startMs: 80,
    chunksMs: [150, 250, 350],
    endMs: 380,
    usage: { inputTokens: 400, cachedInputTokens: 0, outputTokens: 30 },
  },
  {
    id: 'req-0003',
    startMs: 620,
    chunksMs: [700, 760],
    endMs: 780,
    usage: { inputTokens: 50, cachedInputTokens: 0, outputTokens: 8 },
  },
];

/** The request events of the 100 ms before tick `tick`, in time order. */
function eventsBefore(tick: number): RequestEvent[] {
  const from = (tick - 1) * TICK_MS;
  const to = tick * TICK_MS;
  const at = (ms: number) => ({
    monoNanos: EXAMPLE_START_MONO_NANOS + BigInt(ms) * NANOS_PER_MILLI,
    unixNanos: EXAMPLE_START_UNIX_NANOS + BigInt(ms) * NANOS_PER_MILLI,
  });
  const events: { ms: number; event: RequestEvent }[] = [];
  for (const r of REQUESTS) {
    const requestId = r.id;
    events.push({
      ms: r.startMs,
      event: {
        type: 'start',
        requestId,
        source: 'proxy',
        engineId: ENGINE_ID,
        model: MODEL,
        operation: 'chat',
        ...at(r.startMs),
      },
    });
    r.chunksMs.forEach((ms, i) => {
      const outputTokens = Math.round((r.usage.outputTokens * (i + 1)) / r.chunksMs.length);
      events.push({ ms, event: { type: 'progress', requestId, outputTokens, estimated: false, ...at(ms) } });
    });
    events.push({
      ms: r.endMs,
      event: { type: 'end', requestId, outcome: 'ok', httpStatus: 200, usage: r.usage, ...at(r.endMs) },
    });
  }
  return events
    .filter((e) => e.ms > from && e.ms <= to)
    .sort((a, b) => a.ms - b.ms)
    .map((e) => e.event);
}

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

/**
 * Writes the signed ledger: 1 simulated GPU (one engine), 12 ticks of 100 ms, batches every
 * 500 ms, three requests attributed by the real attributor (configured idle 70 W).
 */
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
  const gpuId = (inventory.devices[0] as { id: string }).id;
  const factors = buildFactorSnapshot(EXAMPLE_FACTORS);
  let target: Batcher | null = null;
  // As the daemon wires it (src/cli/request-pipeline.ts): both boundaries on every record.
  const attributor = new Attributor({
    engines: [{ engineId: ENGINE_ID, deviceIds: [gpuId], models: [MODEL] }],
    hostDeviceIds: [],
    idlePowerMilliWatts: new Map([[gpuId, IDLE_POWER_MILLI_WATTS]]),
    powerLimitMilliWatts: new Map(
      inventory.devices.flatMap((d) =>
        d.powerLimitMilliWatts === undefined ? [] : [[d.id, d.powerLimitMilliWatts] as const],
      ),
    ),
    onAllocation: (allocation) => target?.addAllocation(allocation),
    onRecord: (record) =>
      target?.addRecord({
        ...record,
        activeImpact: recordActiveImpact(record, factors),
        comprehensive: recordComprehensiveImpact(record, factors),
      }),
  });
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
    factors: factors as unknown as Readonly<Record<string, unknown>>,
    attributedDeviceIds: new Set([gpuId]),
    attributionMethod: attributor.method,
  });
  target = batcher;
  // The batcher hears each tick first: the interval of a tick that seals a batch is split after
  // the seal, so it is `deferred` there and `resolved` in the next batch.
  meter.subscribe((tick) => batcher.onTick(tick));
  meter.subscribe((tick) => attributor.onTick(tick));
  for (let tick = 0; tick < TICKS; tick++) {
    for (const event of tick === 0 ? [] : eventsBefore(tick)) attributor.onEvent(event);
    await meter.tickAll();
    clock.advanceMillis(TICK_MS);
  }
  // A clean stop: split everything still buffered, then seal the last batch.
  attributor.flush();
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
