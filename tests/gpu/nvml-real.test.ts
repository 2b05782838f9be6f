import { expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { Meter } from '../../src/meter/meter.js';
import { NvidiaSmiProbe } from '../../src/probes/nvidia-smi.js';
import { NvmlProbe } from '../../src/probes/nvml.js';
import { describeUnless } from '../helpers/skip.js';

// The opt-in GPU tier: real NVML and real nvidia-smi on a machine with an NVIDIA GPU. It runs only
// with WATTLEDGER_GPU_TESTS=1 (CI has no GPU); the library and binary paths can be overridden with
// WATTLEDGER_NVML_LIBRARY and WATTLEDGER_NVIDIA_SMI.
const enabled = process.env.WATTLEDGER_GPU_TESTS === '1';
const libraryPath = process.env.WATTLEDGER_NVML_LIBRARY ?? 'libnvidia-ml.so.1';
const nvidiaSmiPath = process.env.WATTLEDGER_NVIDIA_SMI ?? 'nvidia-smi';

describeUnless(
  enabled ? undefined : 'opt-in GPU tier: set WATTLEDGER_GPU_TESTS=1 on a machine with an NVIDIA GPU',
)('real NVIDIA hardware', () => {
  it('enumerates GPUs through NVML with the facts the batches need', async () => {
    const probe = new NvmlProbe({ libraryPath, clock: systemClock });
    const inventory = await probe.open();
    try {
      expect(inventory.devices.length).toBeGreaterThan(0);
      for (const gpu of inventory.devices) {
        expect(gpu.id).toMatch(/^GPU-[0-9a-f-]{36}$/);
        expect(gpu.powerLimitMilliWatts).toBeGreaterThan(0);
        expect(gpu.simulated).toBe(false);
        console.log(
          JSON.stringify({
            id: gpu.id,
            name: gpu.name,
            counter: gpu.hasEnergyCounter,
            power: gpu.powerSemantics,
            details: gpu.details,
          }),
        );
      }
    } finally {
      await probe.close();
    }
  });

  it('meters 3 s of counter energy that agrees with integrated power and stays below the power limit', async () => {
    const probe = new NvmlProbe({ libraryPath, clock: systemClock });
    const inventory = await probe.open();
    const meter = new Meter([{ probe, devices: inventory.devices, intervalMs: 100 }], {
      clock: systemClock,
      readTimeoutMs: 2000,
    });
    meter.start();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await meter.stop();
    await probe.close();
    for (const status of meter.status()) {
      const q = status.quality;
      console.log(
        JSON.stringify({
          id: status.device.id,
          energyMicroJoules: String(status.energyMicroJoules),
          residualMicroJoules: String(q.residualMicroJoules),
          comparedMicroJoules: String(q.comparedCounterMicroJoules),
          gaps: q.gapCount,
          samples: q.powerSampleCount,
        }),
      );
      expect(q.gapCount).toBe(0);
      expect(status.energyMicroJoules).toBeGreaterThan(0n);
      const ceiling = (BigInt(status.device.powerLimitMilliWatts ?? 0) * 4_000_000_000n) / 1_000_000n; // limit × 4 s
      expect(status.energyMicroJoules).toBeLessThan(ceiling);
    }
  });

  it('reads the same GPUs through a long-lived nvidia-smi', async () => {
    const probe = new NvidiaSmiProbe({ nvidiaSmiPath, intervalMs: 100, clock: systemClock });
    const inventory = await probe.open();
    try {
      expect(inventory.devices.length).toBeGreaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const results = await probe.read(new AbortController().signal);
      expect(results.every((r) => r.ok && (r.reading.powerSamples?.length ?? 0) > 0)).toBe(true);
    } finally {
      await probe.close();
    }
  });
});
