import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Clock, systemClock } from '../../../src/clock.js';
import { ProbeError } from '../../../src/errors.js';
import { NvidiaSmiProbe, type NvidiaSmiProbeOptions } from '../../../src/probes/nvidia-smi.js';
import type { SmiStreamEvent } from '../../../src/probes/nvidia-smi-stream.js';
import type { DeviceReadResult } from '../../../src/probes/types.js';
import {
  type FakeSmiScenario,
  fakeNvidiaSmi,
  SMI_XML_FIXTURES,
  smiXmlPath,
} from '../../helpers/fake-nvidia-smi.js';
import { findExecutable } from '../../helpers/find-executable.js';
import { FIXTURES } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { itUnless } from '../../helpers/skip.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

// The fake nvidia-smi replays real captures: `-q -x` from tests/fixtures/nvidia-smi-xml and
// idle/load `--query-gpu` rows recorded on an H200, H100 (MIG) and L40S, copied into
// tests/fixtures/nvidia-smi/*.json from tests/fixtures/nvidia-smi-csv. Provenance: SOURCES.md,
// sections "nvidia-smi-xml/" (telegraf testdata, MIT) and "nvidia-smi-csv/" (nvidia_gpu_exporter, MIT).

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  // Probes first (kills every child), then the temp dirs.
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// Short delays so supervision tests run fast; generous start-up allowances so a loaded CI box
// starting `node` slowly is not mistaken for a hung nvidia-smi.
const FAST = {
  intervalMs: 20,
  backoffInitialMs: 20,
  backoffMaxMs: 200,
  killGraceMs: 200,
  hangTimeoutMs: 2_000,
  startupTimeoutMs: 10_000,
  openTimeoutMs: 10_000,
};

interface Harness {
  readonly probe: NvidiaSmiProbe;
  readonly events: SmiStreamEvent[];
  /** What the probe logged, `type: detail`. */
  readonly logs: string[];
}

async function harness(
  scenario: FakeSmiScenario,
  options: Partial<NvidiaSmiProbeOptions> & { clock?: Clock } = {},
): Promise<Harness> {
  const fake = await fakeNvidiaSmi(scenario);
  const events: SmiStreamEvent[] = [];
  const logs: string[] = [];
  const probe = new NvidiaSmiProbe({
    nvidiaSmiPath: fake.nvidiaSmiPath,
    env: fake.env,
    clock: systemClock,
    ...FAST,
    ...options,
    onEvent: (event) => events.push(event),
    log: (type, detail) => logs.push(`${type}: ${detail}`),
  });
  cleanups.push(fake.cleanup, () => probe.close());
  return { probe, events, logs };
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const count = (events: SmiStreamEvent[], type: SmiStreamEvent['type']) =>
  events.filter((e) => e.type === type).length;
const read = (probe: NvidiaSmiProbe) => probe.read(new AbortController().signal);
function ok(result: DeviceReadResult | undefined) {
  if (!result?.ok)
    throw new Error(`expected ok, got ${JSON.stringify(result?.ok === false && result.error.code)}`);
  return result.reading;
}

describe('NvidiaSmiProbe.open', () => {
  it('lists both GPUs of the dual A5000 with instant power semantics and the live power limits', async () => {
    const { probe } = await harness({ xml: SMI_XML_FIXTURES.dualA5000, recordings: ['h200', 'l40s'] });
    const inventory = await probe.open();
    expect(
      inventory.devices.map((d) => [d.id, d.index, d.pciBusId, d.serial, d.powerLimitMilliWatts]),
    ).toEqual([
      ['GPU-12345678-aaaa-bbbb-cccc-0123456789ab', 0, '00000000:81:00.0', '0123456789012', 700_000],
      ['GPU-12345678-aaaa-bbbb-cccc-0123456789cd', 1, '00000000:C1:00.0', '1234567890123', 350_000],
    ]);
    for (const device of inventory.devices) {
      expect(device).toMatchObject({
        probe: 'nvidia-smi',
        hwType: 'gpu',
        name: 'NVIDIA RTX A5000',
        vendor: 'NVIDIA',
        hasEnergyCounter: false,
        powerSemantics: 'instant',
        driverVersion: '590.44.01',
        simulated: false,
        details: { powerField: 'power.draw.instant', xmlPowerLayout: 'gpu_power_readings' },
      });
    }
    expect(inventory.details).toMatchObject({ driverVersion: '590.44.01', cudaVersion: '13.1' });
  });

  it('reports MIG mode and a note for the MIG-enabled A100', async () => {
    const { probe } = await harness({ xml: SMI_XML_FIXTURES.a100Mig, recordings: ['h100-mig'] });
    const inventory = await probe.open();
    expect(inventory.devices[0]).toMatchObject({ migMode: 'enabled', details: { migDevices: '4' } });
    expect(inventory.notes).toContain(
      'mig is enabled: power is for the whole gpu and utilization.gpu is n/a',
    );
  });

  it.each(['stderr', 'stdout'] as const)(
    'falls back to power.draw when an old driver rejects power.draw.instant (message on %s)',
    async (stream) => {
      const scenario = { unknownFields: ['power.draw.instant'], unknownFieldStream: stream };
      const { probe, events } = await harness(scenario);
      const inventory = await probe.open();
      expect(events.find((e) => e.type === 'field-fallback')).toMatchObject({
        dropped: ['power.draw.instant'],
      });
      // The default scenario's GPU is an RTX 4000 SFF Ada: power.draw is the 1 s average there.
      expect(inventory.devices[0]).toMatchObject({
        powerSemantics: 'average-1s',
        details: { powerField: 'power.draw', architecture: 'Ada Lovelace' },
      });
      expect(inventory.notes.join('\n')).toContain('driver rejected power.draw.instant');
      await waitFor('four rows', () => count(events, 'row') >= 4);
      const samples = ok((await read(probe))[0]).powerSamples?.map((s) => s.powerMilliWatts);
      // H200 power.draw as recorded: idle 77.71 W, load 627.40 W.
      expect(new Set(samples)).toEqual(new Set([77_710, 627_400]));
    },
  );

  it.each(['stderr', 'stdout'] as const)(
    'starts on an R418-style driver that rejects power.draw.instant and mig.mode.current (message on %s), naming both in one log line',
    async (stream) => {
      const scenario = {
        xml: SMI_XML_FIXTURES.teslaT4,
        unknownFields: ['power.draw.instant', 'mig.mode.current'],
        unknownFieldStream: stream,
      };
      const { probe, events, logs } = await harness(scenario);
      const inventory = await probe.open();
      expect(events.flatMap((e) => (e.type === 'field-fallback' ? [[e.field, e.message]] : []))).toEqual([
        ['power.draw.instant', 'Field "power.draw.instant" is not a valid field to query.'],
        ['mig.mode.current', 'Field "mig.mode.current" is not a valid field to query.'],
      ]);
      expect(logs).toEqual([
        'fields-dropped: driver 515.105.01 rejected power.draw.instant, mig.mode.current; sampling without them',
      ]);
      expect(inventory.details.droppedFields).toBe('power.draw.instant,mig.mode.current');
      expect(inventory.details.fields).not.toContain('mig.mode.current');
      expect(inventory.notes).toContain(
        'driver rejected power.draw.instant, mig.mode.current; sampling without them',
      );
      // Turing: power.draw is instantaneous (nvidia-smi --help-query-gpu).
      expect(inventory.devices[0]).toMatchObject({
        powerSemantics: 'instant',
        details: { powerField: 'power.draw', architecture: 'Turing' },
      });
      await waitFor('rows', () => count(events, 'row') >= 3);
      expect(ok((await read(probe))[0]).powerSamples?.length).toBeGreaterThan(0);
    },
  );

  it.each(['stderr', 'stdout'] as const)(
    "gives up at once when a required field is rejected, keeping nvidia-smi's own text (%s)",
    async (stream) => {
      const { probe } = await harness({ unknownFields: ['uuid'], unknownFieldStream: stream });
      const error = (await probe.open().catch((e: unknown) => e)) as ProbeError;
      expect(error).toMatchObject({ code: 'PROBE_UNAVAILABLE' });
      expect(error.message).toContain('Field "uuid" is not a valid field to query.');
      expect(error.message).toContain('exit code 2');
      expect(error.message).toContain('gave up');
      expect(error.message).not.toContain('restarting');
    },
  );

  it('lists the GT 1030 whose power is N/A, and reads it as no reading with the reason, never 0 W', async () => {
    const cellOverrides = [
      { field: 'power.draw', value: '[N/A]' },
      { field: 'enforced.power.limit', value: '[N/A]' },
    ];
    const scenario = {
      xml: SMI_XML_FIXTURES.gt1030PowerNa,
      recordings: ['h100'] as const,
      unknownFields: ['power.draw.instant'], // driver 470
      cellOverrides,
    };
    const { probe, events } = await harness(scenario);
    const inventory = await probe.open();
    expect(inventory.devices.map((d) => [d.name, d.powerSemantics, d.details.architecture])).toEqual([
      ['NVIDIA GeForce GT 1030', 'instant', 'Pascal'],
    ]);
    // The XML says 30 W for the limit; the stream's [N/A] never became a number.
    expect(inventory.devices[0]?.powerLimitMilliWatts).toBe(30_000);
    expect(inventory.notes).toContain(
      'GPU-857c6374-f681-cf3a-f99f-9063a87b8ac0 reports power.draw as [N/A]: no power reading, its energy is unmeasured',
    );
    await waitFor('rows', () => count(events, 'row') >= 3);
    const [result] = await read(probe);
    expect(result).toMatchObject({ ok: false, error: { code: 'PROBE_NOT_SUPPORTED' } });
    if (result?.ok === false) expect(result.error.message).toContain('power.draw of GPU-');
    if (result?.ok === false) expect(result.error.message).toContain('as [N/A]');
  });

  it('opens 16 Blackwell GPUs from one large -q -x document', async () => {
    const { probe } = await harness({ xml: SMI_XML_FIXTURES.blackwell, xmlGpuCount: 16 });
    const inventory = await probe.open();
    expect(inventory.devices).toHaveLength(16);
    expect(new Set(inventory.devices.map((d) => d.id)).size).toBe(16);
    const results = await read(probe);
    expect(results.every((r) => r.ok && (r.reading.powerSamples?.length ?? 0) > 0)).toBe(true);
  });

  it.each(readdirSync(`${FIXTURES}nvidia-smi-xml`).filter((f) => f.endsWith('.xml')))(
    'opens on %s with every GPU it lists and a power semantics rule for each',
    async (xml) => {
      const text = readFileSync(smiXmlPath(xml), 'utf8');
      const uuids = [...text.matchAll(/<uuid>([^<]+)<\/uuid>/g)].map((m) => m[1]);
      const { probe } = await harness({ xml });
      const inventory = await probe.open();
      expect(inventory.devices.map((d) => d.id)).toEqual(uuids);
      for (const device of inventory.devices) {
        expect(device.powerSemantics).toMatch(/^(instant|average-1s)$/);
        expect(device.details.powerSemanticsRule).toContain('nvidia-smi --help-query-gpu');
      }
    },
  );

  it('fails with PROBE_UNAVAILABLE and a hint when the binary is missing', async () => {
    const probe = new NvidiaSmiProbe({
      nvidiaSmiPath: '/nonexistent/nvidia-smi',
      clock: systemClock,
      intervalMs: 20,
    });
    const error = await probe.open().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProbeError);
    expect(error).toMatchObject({
      code: 'PROBE_UNAVAILABLE',
      hint: expect.stringContaining('probes.nvidiaSmiPath'),
    });
  });

  it('fails with PROBE_NO_DEVICES when -q -x lists no GPU', async () => {
    const tmp = await makeTmpDir();
    cleanups.push(tmp.cleanup);
    // The real T4 document with its <gpu> element removed: what a host with no visible GPU prints.
    const t4 = readFileSync(smiXmlPath(SMI_XML_FIXTURES.teslaT4), 'utf8');
    const xml = join(tmp.dir, 'no-gpu.xml');
    await writeFile(
      xml,
      t4.replace(/<gpu id=[\s\S]*<\/gpu>/, '').replace(/<attached_gpus>1/, '<attached_gpus>0'),
    );
    const { probe } = await harness({ xml });
    await expect(probe.open()).rejects.toMatchObject({ code: 'PROBE_NO_DEVICES' });
  });

  it('fails fast with PROBE_UNAVAILABLE and the driver message when the query exits before any row', async () => {
    const exitStderr = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.";
    const { probe } = await harness({ exitAfterRows: 0, exitCode: 9, exitStderr });
    const error = await probe.open().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'PROBE_UNAVAILABLE' });
    expect((error as Error).message).toContain("couldn't communicate with the NVIDIA driver");
  });

  it('fails with PROBE_TIMEOUT when no row arrives in time, and stops the child', async () => {
    const { probe, events } = await harness({ startDelayMs: 5_000 }, { openTimeoutMs: 300 });
    await expect(probe.open()).rejects.toMatchObject({ code: 'PROBE_TIMEOUT' });
    expect(events.at(-1)).toMatchObject({ type: 'exited', signal: 'SIGTERM' });
    expect(probe.streamStatus()).toBeUndefined();
  });
});

describe('NvidiaSmiProbe.read', () => {
  it('returns every recorded sample since the previous read, oldest first, with arrival times', async () => {
    const { probe, events } = await harness({
      xml: SMI_XML_FIXTURES.dualA5000,
      recordings: ['h200', 'l40s'],
    });
    await probe.open();
    await read(probe);
    const before = systemClock.monoNanos();
    const rowsAtRead = count(events, 'row');
    await waitFor('two more ticks', () => count(events, 'row') >= rowsAtRead + 4);
    const [first, second] = await read(probe);
    const samples0 = ok(first).powerSamples ?? [];
    expect(samples0.length).toBeGreaterThanOrEqual(2);
    // Instant power recorded on the H200 (idle 78.21 W, load 626.26 W), alternating per tick.
    expect(new Set(samples0.map((s) => s.powerMilliWatts))).toEqual(new Set([78_210, 626_260]));
    expect(new Set(ok(second).powerSamples?.map((s) => s.powerMilliWatts))).toEqual(
      new Set([127_670, 112_380]),
    );
    const times = samples0.map((s) => s.monoNanos);
    expect([...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(times);
    expect(times[0]).toBeGreaterThanOrEqual(before);
    expect(ok(first).memoryTotalBytes).toBe(24_564n * 1_048_576n);
    expect(await read(probe).then((r) => ok(r[0]).powerSamples?.length)).toBeLessThanOrEqual(1);
  });

  it('omits utilization instead of reporting 0 when nvidia-smi prints [N/A] under MIG', async () => {
    const { probe } = await harness({ xml: SMI_XML_FIXTURES.a100Mig, recordings: ['h100-mig'] });
    await probe.open();
    const reading = ok((await read(probe))[0]);
    expect(reading.utilizationGpuPercent).toBeUndefined();
    expect(reading.memoryUsedBytes).toBeDefined();
  });

  it.each([
    ['[GPU is lost]', 'PROBE_DEVICE_LOST'],
    ['[Unknown Error]', 'PROBE_READ_FAILED'],
    ['[Not Supported]', 'PROBE_NOT_SUPPORTED'],
  ])('reports a %s power cell on one GPU as %s and keeps the other GPU ok', async (value, code) => {
    const cellOverrides = [{ field: 'power.draw.instant', value, gpu: 1, fromRow: 4 }];
    const { probe, events } = await harness({
      xml: SMI_XML_FIXTURES.dualA5000,
      recordings: ['h200', 'l40s'],
      cellOverrides,
    });
    await probe.open();
    await waitFor('rows after the override', () => count(events, 'row') >= 8);
    const [first, second] = await read(probe);
    expect(first?.ok).toBe(true);
    expect(second).toMatchObject({
      ok: false,
      deviceId: 'GPU-12345678-aaaa-bbbb-cccc-0123456789cd',
      error: { code },
    });
    if (second?.ok === false) expect(second.error.message).toContain(value);
  });

  it('reports PROBE_TIMEOUT for a device whose newest sample is older than 10 sample periods', async () => {
    const clock = new ManualClock();
    const { probe, events } = await harness({ hangAfterRows: 2 }, { clock, hangTimeoutMs: 5_000 });
    await probe.open();
    await waitFor('two rows', () => count(events, 'row') >= 2);
    expect(ok((await read(probe))[0]).powerSamples).toHaveLength(2);
    clock.advanceMillis(5_001);
    expect((await read(probe))[0]).toMatchObject({ ok: false, error: { code: 'PROBE_TIMEOUT' } });
  });
});

describe('NvidiaSmiProbe sampling by the sensor', () => {
  it('places samples at their own timestamp: a burst keeps the spacing nvidia-smi sampled at', async () => {
    const { probe, events } = await harness(
      { burstRows: 5 },
      { intervalMs: 50, readWaitMs: 2_000, stdbufPath: false },
    );
    await probe.open();
    await read(probe);
    const rows = count(events, 'row');
    await waitFor('two bursts', () => count(events, 'row') >= rows + 10);
    const samples = ok((await read(probe))[0]).powerSamples ?? [];
    const ms = (nanos: bigint) => Number(nanos / 1_000_000n);
    const received = samples.map((s) => s.receivedMonoNanos ?? s.monoNanos);
    // Pairs of rows that arrived together (one write of the burst) …
    const together = samples.slice(1).flatMap((s, i) => {
      const before = samples[i];
      const arrivedApartMs = ms((received[i + 1] ?? 0n) - (received[i] ?? 0n));
      return before && arrivedApartMs < 5 ? [ms(s.monoNanos - before.monoNanos)] : [];
    });
    expect(together.length).toBeGreaterThanOrEqual(6);
    // … were taken ~50 ms apart by nvidia-smi, and are placed so.
    expect(together.every((spacingMs) => spacingMs >= 40)).toBe(true);
    expect(samples.every((s) => s.monoNanos <= (s.receivedMonoNanos ?? s.monoNanos))).toBe(true);
  });

  it('waits for a fresh row instead of returning an empty read', async () => {
    const { probe } = await harness({}, { intervalMs: 150, readWaitMs: 2_000 });
    await probe.open();
    for (let i = 0; i < 5; i++) {
      const samples = ok((await read(probe))[0]).powerSamples ?? [];
      expect(samples.length).toBeGreaterThanOrEqual(1);
    }
  });

  it('reports a dropped GPU as a gap once its newest sample is older than 10 periods, without stalling the other', async () => {
    const { probe } = await harness(
      { xml: SMI_XML_FIXTURES.dualA5000, recordings: ['h200', 'l40s'], dropGpu: { gpu: 1, fromRow: 6 } },
      { intervalMs: 20, readWaitMs: 1_000 },
    );
    await probe.open();
    // Read as the meter would until GPU 1's newest sample is older than 10 periods (~200 ms here).
    const deadline = performance.now() + 5_000;
    let second: DeviceReadResult | undefined;
    while (performance.now() < deadline) {
      const started = performance.now();
      const results = await read(probe);
      // GPU 1's absence holds no read up for the 1 s read wait: GPU 0's row and half a period do.
      expect(performance.now() - started).toBeLessThan(500);
      expect(results[0]?.ok).toBe(true);
      second = results[1];
      if (second?.ok === false && second.error.message.includes('sample periods')) break;
    }
    expect(second).toMatchObject({ ok: false, error: { code: 'PROBE_TIMEOUT' } });
    if (second?.ok === false) expect(second.error.message).toContain('for more than 10 sample periods');
  });

  it('logs a steady stream of garbage as one line per window, not one per line', async () => {
    const { probe, events, logs } = await harness({ garbageEvery: 1 });
    await probe.open();
    await waitFor('many parse errors', () => count(events, 'parse-error') >= 20);
    await probe.close();
    const parseLogs = logs.filter((l) => l.startsWith('parse-error:'));
    // The first, then one summary on close.
    expect(parseLogs).toHaveLength(2);
    expect(parseLogs[1]).toMatch(
      /^parse-error: \d+ more in the last \d+ s, latest: unparsable nvidia-smi line/,
    );
  });
});

describe('NvidiaSmiProbe line buffering', () => {
  const stdbuf = findExecutable('stdbuf');
  itUnless(stdbuf ? undefined : 'no stdbuf (GNU coreutils) on PATH')(
    'runs nvidia-smi under stdbuf from PATH by default, and says so',
    async () => {
      const { probe } = await harness({});
      const inventory = await probe.open();
      expect(inventory.details.lineBuffered).toBe(`${stdbuf} -oL`);
    },
  );

  it('drops a stdbuf that fails before the first row and samples without it', async () => {
    const tmp = await makeTmpDir();
    cleanups.push(tmp.cleanup);
    // What coreutils' stdbuf prints when its preload library is missing (exit status 125).
    const broken = join(tmp.dir, 'stdbuf');
    await writeFile(broken, '#!/bin/sh\necho "stdbuf: failed to find \'libstdbuf.so\'" >&2\nexit 125\n', {
      mode: 0o755,
    });
    const { probe, events, logs } = await harness({}, { stdbufPath: broken });
    const inventory = await probe.open();
    expect(events.find((e) => e.type === 'stdbuf-dropped')).toMatchObject({
      message: "stdbuf: failed to find 'libstdbuf.so'",
    });
    expect(inventory.details.lineBuffered).toBeUndefined();
    expect(logs).toContain(
      "stdbuf-dropped: stdbuf failed, running nvidia-smi without it: stdbuf: failed to find 'libstdbuf.so'",
    );
  });
});

describe('NvidiaSmiProbe stream supervision', () => {
  it('tolerates bursts, CRLF, repeated headers and stderr noise without losing rows', async () => {
    const scenario = {
      burstRows: 5,
      crlf: true,
      headerEvery: 3,
      stderrNoise: { query: 'WARNING: something' },
    };
    const { probe, events } = await harness(scenario, { stdbufPath: false });
    await probe.open();
    await waitFor('ten rows', () => count(events, 'row') >= 10);
    expect(probe.streamStatus()).toMatchObject({ parseErrors: 0, starts: 1 });
    expect(ok((await read(probe))[0]).powerSamples?.length).toBeGreaterThanOrEqual(5);
  });

  it('ignores garbage lines, counts them and keeps delivering rows', async () => {
    const { probe, events } = await harness({ garbageEvery: 3 });
    await probe.open();
    await waitFor('garbage', () => count(events, 'parse-error') >= 3);
    expect(probe.streamStatus()?.parseErrors).toBeGreaterThanOrEqual(3);
    expect(probe.streamStatus()?.rows).toBeGreaterThanOrEqual(6);
    const samples = ok((await read(probe))[0]).powerSamples ?? [];
    expect(samples.every((s) => s.powerMilliWatts === 78_210 || s.powerMilliWatts === 626_260)).toBe(true);
  });

  it('restarts a dying child with doubling backoff and reports the gap on the next read', async () => {
    const scenario = {
      exitAfterRows: 4,
      exitCode: 6,
      exitStderr: 'Unable to determine the device handle',
      misbehaveRuns: 3,
    };
    const { probe, events } = await harness(scenario);
    await probe.open();
    await waitFor('three restarts', () => count(events, 'started') >= 4);
    expect(
      events
        .filter((e) => e.type === 'restart-scheduled')
        .map((e) => e.type === 'restart-scheduled' && e.delayMs),
    ).toEqual([20, 40, 80]);
    expect(events.find((e) => e.type === 'exited')).toMatchObject({
      code: 6,
      stderr: 'Unable to determine the device handle',
    });
    await waitFor('rows after the restart', () => (probe.streamStatus()?.rows ?? 0) >= 14);
    const [gap] = await read(probe);
    expect(gap).toMatchObject({ ok: false, error: { code: 'PROBE_READ_FAILED' } });
    if (gap?.ok === false) expect(gap.error.message).toContain('Unable to determine the device handle');
    const rowsNow = probe.streamStatus()?.rows ?? 0;
    await waitFor('more rows', () => (probe.streamStatus()?.rows ?? 0) >= rowsNow + 2);
    expect(ok((await read(probe))[0]).powerSamples?.length).toBeGreaterThanOrEqual(2);
  });

  it('resets the backoff after a healthy run', async () => {
    const { probe, events } = await harness({ exitAfterRows: 6, misbehaveRuns: 3 }, { healthyResetMs: 50 });
    await probe.open();
    await waitFor('three restarts', () => count(events, 'restart-scheduled') >= 3);
    const delays = events.flatMap((e) => (e.type === 'restart-scheduled' ? [e.delayMs] : []));
    expect(delays).toEqual([20, 20, 20]);
  });

  it('kills a hung child, restarts it and reports PROBE_TIMEOUT for the window', async () => {
    const { probe, events } = await harness({ hangAfterRows: 3, misbehaveRuns: 1 }, { hangTimeoutMs: 300 });
    await probe.open();
    await waitFor('the hang and a restart', () => count(events, 'started') >= 2);
    expect(events.find((e) => e.type === 'hung')).toEqual({ type: 'hung', silentMs: 300 });
    expect(events.find((e) => e.type === 'exited')).toMatchObject({ signal: 'SIGTERM' });
    expect((await read(probe))[0]).toMatchObject({ ok: false, error: { code: 'PROBE_TIMEOUT' } });
    expect(probe.streamStatus()?.hangs).toBe(1);
  });

  it('escalates to SIGKILL when a hung child ignores SIGTERM', async () => {
    const scenario = { hangAfterRows: 2, misbehaveRuns: 1, ignoreSigterm: true };
    const { probe, events } = await harness(scenario, { hangTimeoutMs: 300, killGraceMs: 100 });
    await probe.open();
    await waitFor('the kill', () => count(events, 'exited') >= 1);
    expect(events.find((e) => e.type === 'exited')).toMatchObject({ signal: 'SIGKILL' });
  });

  it('stops the child on close', async () => {
    const { probe, events } = await harness({});
    await probe.open();
    const started = events.find((e) => e.type === 'started');
    const pid = started?.type === 'started' ? started.pid : -1;
    await probe.close();
    expect(() => process.kill(pid, 0)).toThrow();
    expect(events.at(-1)).toMatchObject({ type: 'exited' });
    expect(count(events, 'restart-scheduled')).toBe(0);
  });
});
