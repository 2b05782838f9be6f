import type { RequestEnergyRecord } from '../../../src/attribution/types.js';
import { Meter } from '../../../src/meter/meter.js';
import { SimulatedGpuProbe } from '../../../src/probes/simulated.js';
import { ManualClock } from '../../helpers/manual-clock.js';

/** Inputs shared by the metrics exporter's tests (OTLP and Prometheus). */

/** Two simulated GPUs on a manual clock, metered for `ticks` × 100 ms. */
export async function meteredGpus(ticks: number) {
  const clock = new ManualClock();
  const probe = new SimulatedGpuProbe({
    gpuCount: 2,
    name: 'Simulated NVIDIA H100 80GB HBM3',
    idlePowerMilliWatts: 70_000,
    maxPowerMilliWatts: 700_000,
    seed: 3,
    clock,
  });
  const inventory = await probe.open();
  const meter = new Meter([{ probe, devices: inventory.devices, intervalMs: 100 }], {
    clock,
    readTimeoutMs: 1000,
  });
  for (let i = 0; i < ticks; i++) {
    await meter.tickAll();
    clock.advanceMillis(100);
  }
  return { meter, devices: inventory.devices };
}

/** A finished chat request's record on `gpuDeviceIds` (123.456789 J active), with `over` applied. */
export function requestRecord(
  gpuDeviceIds: string[],
  over: Partial<RequestEnergyRecord> = {},
): RequestEnergyRecord {
  return {
    recordVersion: 1,
    requestId: 'req-secret-0001',
    engineId: 'sim-engine',
    gpuDeviceIds,
    model: 'llama-3.1-8b',
    operation: 'chat',
    source: 'proxy',
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    startedAt: '2025-11-24T16:00:00.000Z',
    endedAt: '2025-11-24T16:00:01.500Z',
    durationNanos: '1500000000',
    timeToFirstTokenNanos: '120000000',
    inputTokens: 100,
    cachedInputTokens: 0,
    outputTokens: 50,
    tokensSource: 'usage',
    outcome: 'ok',
    httpStatus: 200,
    activeEnergyMicroJoules: '123456789',
    hostEnergyMicroJoules: '0',
    idleShareMicroJoules: '0',
    devices: [],
    attributionMethod: 'tokens-v1',
    estimated: false,
    comprehensive: null,
    ...over,
  } as RequestEnergyRecord;
}
