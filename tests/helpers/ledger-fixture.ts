import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WireAgent, WireEvent } from '../../src/attest/batch-format.js';
import { base64FromBytes } from '../../src/attest/bytes.js';
import { tweetnaclSigner } from '../../src/attest/ed25519.js';
import { keyIdFromPublicKey } from '../../src/attest/key-id.js';
import { Attributor } from '../../src/attribution/attributor.js';
import type { IdleBaseline } from '../../src/attribution/types.js';
import { rfc3339 } from '../../src/clock.js';
import { Batcher } from '../../src/ledger/batcher.js';
import { loadChainState } from '../../src/ledger/chain-state.js';
import { CHECKPOINT_DIR } from '../../src/ledger/checkpoint-writer.js';
import { readLedgerLines } from '../../src/ledger/reader.js';
import { RecordLog, type RequestRecord } from '../../src/ledger/record-log.js';
import { LedgerStore } from '../../src/ledger/store.js';
import { Meter } from '../../src/meter/meter.js';
import { type SimulatedFault, SimulatedGpuProbe } from '../../src/probes/simulated.js';
import type { DeviceInfo } from '../../src/probes/types.js';
import type { RequestEvent } from '../../src/requests/types.js';
import { LedgerVerifier, type VerificationReport } from '../../src/verify/verifier.js';
import { ManualClock } from './manual-clock.js';

export const TEST_ORIGIN = 'wattledger/test-host';
/** The engine that the simulated GPUs form when the fixture attributes requests. */
export const SIM_ENGINE_ID = 'sim-engine';

/** Request attribution in `writeLedger`: an `Attributor` over all simulated GPUs as one engine. */
export interface FixtureAttribution {
  /** Idle power of every simulated GPU, integer mW. */
  readonly idlePowerMilliWatts: number;
  readonly maxDelayNanos?: bigint;
  /** Request events fed just before meter tick `tick`, in time order, at times ≤ the clock's now. */
  readonly events: (tick: number, clock: ManualClock) => readonly RequestEvent[];
  /** Flush the attributor before `batcher.stop()`, as a clean stop does (default true). */
  readonly flush?: boolean;
  /** Subscribe the attributor to the meter before the batcher, so allocations can arrive early. */
  readonly attributorFirst?: boolean;
  /** Replaces the configured idle baseline (e.g. a `LearnedIdleBaseline`). */
  readonly idleBaseline?: IdleBaseline;
}

/** A deterministic signing key for tests (seed bytes 1..32). */
export function testSigner(seedByte = 1) {
  const seed = Uint8Array.from({ length: 32 }, (_, i) => (i + seedByte) % 256);
  const signer = tweetnaclSigner(seed);
  return { signer, noteSigner: { name: TEST_ORIGIN, signer } };
}

/** Each `writeLedger` call is one agent run, with its own run id (as each daemon process has). */
let runCount = 0;

export function testAgent(keyId: string, runId = 'run-1'): WireAgent {
  return {
    hostId: 'test-host',
    hostIdSource: 'hostname',
    keyId,
    softwareVersion: '0.0.0-test',
    configSha256: '0'.repeat(64),
    runId,
  };
}

/**
 * One daemon run in miniature: simulated GPUs on a manual clock, a meter, a batcher writing a real
 * ledger in `dir`. `ticks` meter ticks 100 ms apart; batches every `batchIntervalMs`.
 */
export async function writeLedger(
  dir: string,
  options: {
    ticks: number;
    batchIntervalMs?: number;
    checkpointEvery?: number;
    clock?: ManualClock;
    seedByte?: number;
    gpus?: number;
    /** Request records to add (through `batcher.addRecord`) just before meter tick `tick`. */
    records?: (tick: number) => readonly RequestRecord[];
    /** Key rotation: the old key's seed byte; the first batch is cosigned by it and announces the new key. */
    rotateFromSeedByte?: number;
    maxSegmentBytes?: number;
    /** Attribute the GPUs' energy to generated requests (absent: nothing is attributed). */
    attribution?: FixtureAttribution;
    /** Hardware events of the simulated GPUs, and their counter range (see SimulatedProbeOptions). */
    faults?: readonly SimulatedFault[];
    wrapMicroJoules?: bigint;
    /** The simulated power model (defaults 70 W idle, 700 W max = the power limit). */
    idlePowerMilliWatts?: number;
    maxPowerMilliWatts?: number;
    /** Time between the batcher's start and the meter's first tick. */
    startDelayMs?: number;
  },
): Promise<{ clock: ManualClock; unmatchedAllocations: number }> {
  const clock = options.clock ?? new ManualClock();
  const probe = new SimulatedGpuProbe({
    gpuCount: options.gpus ?? 2,
    name: 'Sim',
    idlePowerMilliWatts: options.idlePowerMilliWatts ?? 70_000,
    maxPowerMilliWatts: options.maxPowerMilliWatts ?? 700_000,
    seed: 3,
    clock,
    ...(options.faults ? { faults: options.faults } : {}),
    ...(options.wrapMicroJoules !== undefined ? { wrapMicroJoules: options.wrapMicroJoules } : {}),
  });
  const inventory = await probe.open();
  const meter = new Meter([{ probe, devices: inventory.devices, intervalMs: 100 }], {
    clock,
    readTimeoutMs: 1000,
  });
  const store = await LedgerStore.open({
    dir,
    ...(options.maxSegmentBytes ? { maxSegmentBytes: options.maxSegmentBytes } : {}),
  });
  const records = new RecordLog(await LedgerStore.open({ dir: join(dir, 'records') }));
  const { signer, noteSigner } = testSigner(options.seedByte);
  const state = await loadChainState(dir);
  const attribution = options.attribution
    ? fixtureAttributor(meter, inventory.devices, options.attribution)
    : null;
  const batcher = new Batcher({
    store,
    records,
    state,
    signer,
    noteSigner,
    origin: TEST_ORIGIN,
    agent: testAgent(signer.keyId, `run-${++runCount}`),
    devices: inventory.devices,
    clock,
    batchIntervalMs: options.batchIntervalMs ?? 1000,
    maxRecordsPerBatch: 1000,
    checkpointEveryBatches: options.checkpointEvery ?? 3,
    startEvents: [
      {
        kind: 'agent-start',
        startedAt: rfc3339(clock.wallUnixNanos()),
        chain: state.nextSequence === 0n ? 'genesis' : 'resumed',
      },
      ...(options.rotateFromSeedByte === undefined ? [] : [announce(signer.publicKey, clock)]),
    ],
    ...(options.rotateFromSeedByte === undefined
      ? {}
      : { firstBatchCosigners: [testSigner(options.rotateFromSeedByte).signer] }),
    ...(attribution
      ? {
          attributedDeviceIds: new Set(inventory.devices.map((d) => d.id)),
          attributionMethod: attribution.method,
        }
      : {}),
  });
  // Meter listeners run in subscription order: the attributor first makes allocations early.
  // Otherwise, as the daemon does, the attributor splits the tick as the batcher counted it.
  if (attribution?.first) {
    attribution.wire(batcher);
    meter.subscribe((tick) => batcher.onTick(tick));
  } else if (attribution) {
    attribution.connect(batcher);
    meter.subscribe((tick) => attribution.attributor.onTick(batcher.onTick(tick)));
  } else meter.subscribe((tick) => batcher.onTick(tick));
  if (options.startDelayMs) clock.advanceMillis(options.startDelayMs);
  for (let i = 0; i < options.ticks; i++) {
    for (const record of options.records?.(i) ?? []) batcher.addRecord(record);
    for (const event of options.attribution?.events(i, clock) ?? []) attribution?.attributor.onEvent(event);
    await meter.tickAll();
    clock.advanceMillis(100);
  }
  if (options.attribution?.flush ?? true) attribution?.attributor.flush();
  await batcher.stop();
  await store.close();
  await records.close();
  return { clock, unmatchedAllocations: batcher.unmatchedAllocations };
}

/** The fixture's attributor: one engine of all GPUs, fed the meter's ticks. */
function fixtureAttributor(meter: Meter, devices: readonly DeviceInfo[], options: FixtureAttribution) {
  let target: Batcher | null = null;
  const attributor = new Attributor({
    engines: [{ engineId: SIM_ENGINE_ID, deviceIds: devices.map((d) => d.id), models: [] }],
    hostDeviceIds: [],
    idlePowerMilliWatts: new Map(devices.map((d) => [d.id, options.idlePowerMilliWatts])),
    ...(options.maxDelayNanos === undefined ? {} : { maxDelayNanos: options.maxDelayNanos }),
    ...(options.idleBaseline === undefined ? {} : { idleBaseline: options.idleBaseline }),
    onAllocation: (allocation) => target?.addAllocation(allocation),
    onRecord: (record) => target?.addRecord(record),
  });
  return {
    attributor,
    method: attributor.method,
    first: options.attributorFirst ?? false,
    /** Connects the attributor's output to the batcher and subscribes it to the meter. */
    wire(batcher: Batcher): void {
      target = batcher;
      meter.subscribe((tick) => attributor.onTick(tick));
    },
    /** Connects the attributor's output to the batcher only. */
    connect(batcher: Batcher): void {
      target = batcher;
    },
  };
}

function announce(publicKey: Uint8Array, clock: ManualClock): WireEvent {
  return {
    kind: 'key-announcement',
    keyId: keyIdFromPublicKey(publicKey),
    publicKeyBase64: base64FromBytes(publicKey),
    validFrom: rfc3339(clock.wallUnixNanos()),
  };
}

/** Reads a ledger's lines in order. */
export async function ledgerLines(dir: string): Promise<string[]> {
  const lines: string[] = [];
  for await (const item of readLedgerLines(dir)) if (item.kind === 'line') lines.push(item.line);
  return lines;
}

/** Every checkpoint note in a ledger directory, oldest first. */
export async function checkpointNotes(dir: string): Promise<string[]> {
  const folder = join(dir, CHECKPOINT_DIR);
  const names = (await readdir(folder).catch(() => [] as string[])).filter((n) => n.endsWith('.note')).sort();
  return Promise.all(names.map((n) => readFile(join(folder, n), 'utf8')));
}

/** Verifies lines (and checkpoints) with the test key. */
export function verifyLines(
  lines: readonly string[],
  checkpoints: readonly string[] = [],
  seedByte = 1,
): VerificationReport {
  const { signer } = testSigner(seedByte);
  const verifier = new LedgerVerifier({ keys: [{ keyId: signer.keyId, publicKey: signer.publicKey }] });
  for (const [i, note] of checkpoints.entries()) verifier.addCheckpoint(note, `checkpoint#${i}`);
  for (const [i, line] of lines.entries()) verifier.addLine(line, `line ${i + 1}`);
  return verifier.finish();
}
