import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Signer } from '../../src/attest/ed25519.js';
import type { NoteSigner } from '../../src/attest/note.js';
import { Batcher } from '../../src/ledger/batcher.js';
import { loadChainState } from '../../src/ledger/chain-state.js';
import { RecordLog } from '../../src/ledger/record-log.js';
import { LedgerStore } from '../../src/ledger/store.js';
import { Meter } from '../../src/meter/meter.js';
import { SimulatedGpuProbe } from '../../src/probes/simulated.js';
import { testAgent } from '../../tests/helpers/ledger-fixture.js';
import { ManualClock } from '../../tests/helpers/manual-clock.js';

/** A day at the daemon's default batch interval: 8,640 batches of 10 s. */
export const DAY_BATCHES = 8640;
export const DAY_BATCH_INTERVAL_MS = 10_000;
const GPU_COUNT = 8;

/** What {@link writeDayLedger} signs with. */
export interface DayLedgerKey {
  readonly signer: Signer;
  readonly noteSigner: NoteSigner;
  readonly origin: string;
}

/**
 * Writes a day of 10-s batches from 8 simulated GPUs into `dir`, sealed and signed by a real
 * Batcher (a checkpoint every 10 batches, the daemon's default). One meter reading per window: what
 * the benches time depends on the lines, not on how often the meter ran. Returns the number of
 * batch lines and the bytes of the ledger's segments.
 */
export async function writeDayLedger(
  dir: string,
  key: DayLedgerKey,
): Promise<{ lines: number; bytes: number }> {
  const clock = new ManualClock();
  const probe = new SimulatedGpuProbe({
    gpuCount: GPU_COUNT,
    name: 'Sim H200',
    idlePowerMilliWatts: 70_000,
    maxPowerMilliWatts: 700_000,
    seed: 3,
    clock,
  });
  const { devices } = await probe.open();
  const meter = new Meter([{ probe, devices, intervalMs: DAY_BATCH_INTERVAL_MS }], {
    clock,
    readTimeoutMs: 1000,
  });
  const store = await LedgerStore.open({ dir });
  const records = new RecordLog(await LedgerStore.open({ dir: join(dir, 'records') }));
  const errors: unknown[] = [];
  let lines = 0;
  const batcher = new Batcher({
    store,
    records,
    state: await loadChainState(dir),
    signer: key.signer,
    noteSigner: key.noteSigner,
    origin: key.origin,
    agent: testAgent(key.signer.keyId),
    devices,
    clock,
    batchIntervalMs: DAY_BATCH_INTERVAL_MS,
    maxRecordsPerBatch: 1000,
    checkpointEveryBatches: 10,
    startEvents: [],
    onError: (error) => errors.push(error),
    onSealed: () => {
      lines += 1;
    },
  });
  meter.subscribe((tick) => batcher.onTick(tick));
  // The first tick opens the window, each later one seals a batch, and stop() seals the last.
  for (let i = 0; i < DAY_BATCHES; i++) {
    await meter.tickAll();
    clock.advanceMillis(DAY_BATCH_INTERVAL_MS);
    if (errors.length > 0) throw new Error(`batcher failed: ${String(errors[0])}`, { cause: errors[0] });
  }
  await batcher.stop();
  await store.close();
  await records.close();
  let bytes = 0;
  for (const name of await readdir(dir)) {
    if (/^ledger-\d+\.jsonl$/.test(name)) bytes += (await stat(join(dir, name))).size;
  }
  return { lines, bytes };
}
