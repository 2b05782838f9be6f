import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
import { startOtlpExport } from '../../../src/export/index.js';
import { Meter } from '../../../src/meter/meter.js';
import { SimulatedGpuProbe } from '../../../src/probes/simulated.js';
import { ledgerLines, writeLedger } from '../../helpers/ledger-fixture.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { OtlpReceiver } from '../../helpers/otlp-receiver.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';
import { logRecords, metricPoints } from './otlp-views.js';

let receiver: OtlpReceiver;
let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  for (const name of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_SDK_DISABLED'])
    vi.stubEnv(name, '');
  receiver = await OtlpReceiver.start();
  ({ dir, cleanup } = await makeTmpDir());
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await receiver.close();
  await cleanup();
});

async function simulatedMeter() {
  const clock = new ManualClock();
  const probe = new SimulatedGpuProbe({
    gpuCount: 1,
    name: 'Sim',
    idlePowerMilliWatts: 70_000,
    maxPowerMilliWatts: 700_000,
    seed: 1,
    clock,
  });
  const { devices } = await probe.open();
  const meter = new Meter([{ probe, devices, intervalMs: 100 }], { clock, readTimeoutMs: 1000 });
  await meter.tickAll();
  clock.advanceMillis(100);
  await meter.tickAll();
  return meter;
}

function config(enabled: boolean) {
  return configSchema.parse({
    ledger: { dir },
    otlp: { enabled, endpoint: receiver.endpoint, protocol: 'http/json', logsPollIntervalMs: 60_000 },
  });
}

describe('startOtlpExport', () => {
  it('starts metrics and ledger logs, and sends what is left on stop', async () => {
    await writeLedger(dir, { ticks: 6, batchIntervalMs: 200 });
    const otlp = await startOtlpExport({ config: config(true), meter: await simulatedMeter() });
    expect(otlp?.metrics).not.toBeNull();
    expect(otlp?.logs).not.toBeNull();
    otlp?.notifySealed();
    await otlp?.stop();
    const names = new Set(metricPoints(receiver.accepted('metrics')).map((p) => p.name));
    expect(names).toContain('hw.energy');
    expect(logRecords(receiver.accepted('logs')).map((r) => r.body)).toEqual(
      expect.arrayContaining(await ledgerLines(dir)),
    );
  });

  it('is off unless enabled, and OTEL_SDK_DISABLED=true turns it off', async () => {
    expect(await startOtlpExport({ config: config(false), meter: await simulatedMeter() })).toBeNull();
    vi.stubEnv('OTEL_SDK_DISABLED', 'true');
    expect(await startOtlpExport({ config: config(true), meter: await simulatedMeter() })).toBeNull();
    expect(receiver.requests).toEqual([]);
  });
});
