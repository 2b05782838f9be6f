import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { Batcher } from '../../../src/ledger/batcher.js';
import { loadChainState } from '../../../src/ledger/chain-state.js';
import { RecordLog } from '../../../src/ledger/record-log.js';
import { LedgerStore } from '../../../src/ledger/store.js';
import { Meter } from '../../../src/meter/meter.js';
import { NvmlProbe } from '../../../src/probes/nvml.js';
import { RaplProbe } from '../../../src/probes/rapl.js';
import { buildFakeNvml, FakeNvmlState, fakeNvmlSkipReason } from '../../helpers/fake-nvml.js';
import { FakeSysfs, PACKAGE_RANGE_MICROJOULES } from '../../helpers/fake-sysfs.js';
import {
  checkpointNotes,
  ledgerLines,
  TEST_ORIGIN,
  testAgent,
  testSigner,
  verifyLines,
} from '../../helpers/ledger-fixture.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { describeUnless } from '../../helpers/skip.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

// An honest ledger whose hardware misbehaved: a GPU counter reset (driver reload), a GPU read
// failure, and a RAPL wrap, all through the real probes and their process-boundary fakes. The
// verifier must accept it: declared jumps and gaps are not tampering.
const skip = fakeNvmlSkipReason();

describeUnless(skip)('an honest ledger with resets, wraps and failed reads', () => {
  let library: string;
  let dir: string;
  let cleanup: () => Promise<void>;
  let state: FakeNvmlState;
  let sysfs: FakeSysfs;
  beforeAll(async () => {
    library = await buildFakeNvml();
  });
  beforeEach(async () => {
    ({ dir, cleanup } = await makeTmpDir());
    state = await FakeNvmlState.create(1);
    state.activate();
    sysfs = await FakeSysfs.fromFixture('procfs-testdata-intel-rapl');
  });
  afterEach(async () => {
    await state.cleanup();
    await sysfs.cleanup();
    await cleanup();
    delete process.env.FAKE_NVML_DIR;
  });

  it('verifies with no findings, and declares each event', async () => {
    const clock = new ManualClock();
    const nvml = new NvmlProbe({ libraryPath: library, clock });
    const rapl = new RaplProbe({ sysfsRoot: sysfs.root, clock });
    const gpus = await nvml.open();
    const zones = await rapl.open();
    const meter = new Meter(
      [
        { probe: nvml, devices: gpus.devices, intervalMs: 100 },
        { probe: rapl, devices: zones.devices, intervalMs: 100 },
      ],
      { clock, readTimeoutMs: 1000 },
    );
    const store = await LedgerStore.open({ dir });
    const records = new RecordLog(await LedgerStore.open({ dir: join(dir, 'records') }));
    const { signer, noteSigner } = testSigner();
    const batcher = new Batcher({
      store,
      records,
      state: await loadChainState(dir),
      signer,
      noteSigner,
      origin: TEST_ORIGIN,
      agent: testAgent(signer.keyId),
      devices: [...gpus.devices, ...zones.devices],
      clock,
      batchIntervalMs: 500,
      maxRecordsPerBatch: 100,
      checkpointEveryBatches: 2,
      startEvents: [],
    });
    meter.subscribe((tick) => batcher.onTick(tick));
    let gpuMilliJoules = 50_000_000;
    let raplMicroJoules = PACKAGE_RANGE_MICROJOULES - 30_000_000n;
    for (let tick = 0; tick < 40; tick++) {
      gpuMilliJoules = tick === 15 ? 100 : gpuMilliJoules + 40; // driver reload at tick 15
      raplMicroJoules = (raplMicroJoules + 8_000_000n) % PACKAGE_RANGE_MICROJOULES; // wraps around tick 4
      if (tick === 25) await state.setFail(0, 999);
      if (tick === 27) await state.clearFail(0);
      await state.setEnergyMilliJoules(0, gpuMilliJoules);
      await sysfs.setEnergy('intel-rapl:0', raplMicroJoules);
      await meter.tickAll();
      clock.advanceMillis(100);
    }
    await batcher.stop();
    await store.close();
    await records.close();
    await nvml.close();
    await rapl.close();

    const lines = await ledgerLines(dir);
    const report = verifyLines(lines, await checkpointNotes(dir));
    expect(report.findings).toEqual([]);
    const devices = lines.flatMap(
      (line) => JSON.parse(Buffer.from(JSON.parse(line).payload, 'base64').toString()).predicate.devices,
    );
    expect(
      devices.some((d) => d.discontinuities.some((j: { reason: string }) => j.reason === 'counter-reset')),
    ).toBe(true);
    expect(devices.some((d) => d.deviceId === 'rapl:package-0' && d.wrapCount > 0)).toBe(true);
    expect(devices.some((d) => d.gaps.some((g: { reason: string }) => g.reason === 'read-failed'))).toBe(
      true,
    );
  });
});
