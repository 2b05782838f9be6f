import { describe, expect, it } from 'vitest';
import { DEMO_ENGINES, DEMO_GPU, demoGpuId } from '../../../src/demo/models.js';
import { DemoNodeProbe } from '../../../src/demo/node-probe.js';
import { TruthLedger } from '../../../src/harness/truth-ledger.js';
import { NANOS_PER_SECOND } from '../../../src/units.js';
import { ManualClock } from '../../helpers/manual-clock.js';

/** The probe over the demo's four engines, each with its own truth ledger on a manual clock. */
function node() {
  const clock = new ManualClock();
  const engines = DEMO_ENGINES.map((engine) => ({
    engine,
    ledger: new TruthLedger({
      idleMilliWatts: DEMO_GPU.idleMilliWatts * engine.gpuIndexes.length,
      originNanos: clock.monoNanos(),
    }),
  }));
  return { clock, engines, probe: new DemoNodeProbe(engines, clock) };
}

async function counters(probe: DemoNodeProbe): Promise<bigint[]> {
  return (await probe.read()).map((r) => (r.ok ? (r.reading.energyCounterMicroJoules as bigint) : -1n));
}

describe('the demo node probe', () => {
  it('exposes 8 simulated GPUs with the NVML-like facts the meter checks', async () => {
    const { probe } = node();
    const inventory = await probe.open();
    expect(inventory.devices.map((d) => d.id)).toEqual(Array.from({ length: 8 }, (_, i) => demoGpuId(i)));
    expect(inventory.devices.every((d) => d.simulated && d.hwType === 'gpu' && d.hasEnergyCounter)).toBe(
      true,
    );
    expect(inventory.devices.every((d) => d.powerLimitMilliWatts === DEMO_GPU.powerLimitMilliWatts)).toBe(
      true,
    );
  });

  it("splits each engine's work evenly over its GPUs and idles the others at idle power", async () => {
    const { clock, engines, probe } = node();
    await probe.open();
    const before = await counters(probe);
    // The 70B engine (GPUs 0–3) decodes 40 tokens of 3 J in the next second; nothing else works.
    const big = engines[0];
    for (let i = 1; i <= 40; i++)
      big?.ledger.addDecodeToken('r1', clock.monoNanos() + BigInt(i) * 25_000_000n, 3_000_000n);
    clock.advanceNanos(NANOS_PER_SECOND);
    const after = await counters(probe);
    const deltas = after.map((value, i) => value - (before[i] as bigint));
    // Idle 70 W for 1 s = 70 J per GPU; the 120 J of work is 30 J on each of GPUs 0–3 (mJ resolution).
    for (const i of [0, 1, 2, 3]) expect(deltas[i]).toBe(100_000_000n);
    for (const i of [4, 5, 6, 7]) expect(deltas[i]).toBe(70_000_000n);
    const power = (await probe.read()).map((r) =>
      r.ok ? r.reading.powerSamples?.[0]?.powerMilliWatts : null,
    );
    expect(power[0]).toBe(100_000);
    expect(power[7]).toBe(70_000);
    expect(probe.totalMilliWatts).toBe(4 * 100_000 + 4 * 70_000);
  });

  it('never runs its counters backwards, even across a restart on the same ledger directory', async () => {
    const first = node();
    await first.probe.open();
    first.clock.advanceNanos(10n * NANOS_PER_SECOND);
    const last = await counters(first.probe);
    // A new process an hour later: a new origin, a new baseline from the wall clock.
    const second = node();
    second.clock.advanceNanos(3600n * NANOS_PER_SECOND);
    await second.probe.open();
    const resumed = await counters(second.probe);
    for (const [i, value] of resumed.entries()) expect(value).toBeGreaterThan(last[i] as bigint);
  });
});
