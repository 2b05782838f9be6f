import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { Meter } from '../../../src/meter/meter.js';
import type { DeviceInterval, MeterTick } from '../../../src/meter/types.js';
import { NvidiaSmiProbe, type NvidiaSmiProbeOptions } from '../../../src/probes/nvidia-smi.js';
import {
  CLI,
  cliSkipReason,
  collect,
  parseLogLines,
  runCli,
  startCli,
  waitForStderr,
} from '../../helpers/cli.js';
import { type FakeSmiScenario, fakeNvidiaSmi, SMI_XML_FIXTURES } from '../../helpers/fake-nvidia-smi.js';
import { findExecutable } from '../../helpers/find-executable.js';
import { itUnless } from '../../helpers/skip.js';

// The meter over the real nvidia-smi probe and the fake nvidia-smi replaying recorded rows
// (tests/fixtures/nvidia-smi/*.json, copied from the nvidia_gpu_exporter captures in
// tests/fixtures/nvidia-smi-csv; SOURCES.md) the way the real `-lms 100` loop emits them: every
// interval plus the query time, with jitter, in bursts, or with a slow stretch.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** H200 `power.draw.instant` at idle as recorded: the fake repeats it (phaseTicks: never load). */
const IDLE_MILLIWATTS = 78_210;

async function meterRun(
  scenario: FakeSmiScenario,
  runMs: number,
  options: Partial<NvidiaSmiProbeOptions> = {},
): Promise<DeviceInterval[]> {
  const fake = await fakeNvidiaSmi({ phaseTicks: 1_000_000, ...scenario });
  const probe = new NvidiaSmiProbe({
    nvidiaSmiPath: fake.nvidiaSmiPath,
    env: fake.env,
    intervalMs: 100,
    clock: systemClock,
    readWaitMs: 1_000,
    startupTimeoutMs: 10_000,
    ...options,
  });
  cleanups.push(fake.cleanup, () => probe.close());
  const inventory = await probe.open();
  const meter = new Meter([{ probe, devices: inventory.devices, intervalMs: 100 }], {
    clock: systemClock,
    readTimeoutMs: 2_000,
  });
  const ticks: MeterTick[] = [];
  meter.subscribe((tick) => ticks.push(tick));
  meter.start();
  await new Promise((resolve) => setTimeout(resolve, runMs));
  await meter.stop();
  return ticks.flatMap((t) => t.intervals);
}

function gapsPerDevice(intervals: readonly DeviceInterval[]): Map<string, number> {
  const gaps = new Map<string, number>();
  for (const i of intervals) {
    gaps.set(i.deviceId, (gaps.get(i.deviceId) ?? 0) + (i.energyMicroJoules === null ? 1 : 0));
  }
  return gaps;
}

/** Mean power over the measured intervals, in mW (energy µJ × 10^6 / ns). */
function meanMilliWatts(intervals: readonly DeviceInterval[]): number {
  const measured = intervals.filter((i) => i.energyMicroJoules !== null);
  const energy = measured.reduce((sum, i) => sum + (i.energyMicroJoules ?? 0n), 0n);
  const nanos = measured.reduce((sum, i) => sum + (i.endMonoNanos - i.startMonoNanos), 0n);
  return Number((energy * 1_000_000n) / nanos);
}

describe('meter over a healthy nvidia-smi stream', () => {
  it.each<[string, FakeSmiScenario, Partial<NvidiaSmiProbeOptions>]>([
    ['every 100 ms plus a 20 ms query and up to 30 ms jitter', { queryMs: 20, jitterMs: 30 }, {}],
    ['in bursts of 5 rows (block-buffered stdout, no stdbuf)', { burstRows: 5 }, { stdbufPath: false }],
    [
      'with a stretch of three 400 ms slow ticks',
      { queryMs: 10, slowTicks: { from: 5, count: 3, extraMs: 400 } },
      {},
    ],
  ])('has at most one gap per device when rows come %s', async (_what, scenario, options) => {
    const intervals = await meterRun(
      { xml: SMI_XML_FIXTURES.dualA5000, recordings: ['h200', 'h200'], ...scenario },
      3_000,
      options,
    );
    const gaps = gapsPerDevice(intervals);
    expect([...gaps.keys()]).toHaveLength(2);
    for (const [device, count] of gaps) expect(count, `gaps on ${device}`).toBeLessThanOrEqual(1);
    expect(intervals.filter((i) => i.energyMicroJoules !== null).length).toBeGreaterThanOrEqual(10);
    // The energy is the recorded constant power over the time measured (within 3 %).
    const mean = meanMilliWatts(intervals);
    expect(Math.abs(mean - IDLE_MILLIWATTS) / IDLE_MILLIWATTS).toBeLessThan(0.03);
  });
});

describe('meter over nvidia-smi writing 4 KiB bursts (25 rows, 2.5 s apart)', () => {
  const bursts = { burstRows: 25, queryMs: 10 };
  const stdbuf = findExecutable('stdbuf');

  itUnless(stdbuf ? undefined : 'no stdbuf (GNU coreutils) on PATH')(
    'has at most one gap: stdbuf -oL makes the stdout line-buffered',
    async () => {
      const intervals = await meterRun(bursts, 3_000);
      expect(intervals.filter((i) => i.energyMicroJoules === null).length).toBeLessThanOrEqual(1);
      expect(intervals.length).toBeGreaterThanOrEqual(15);
    },
  );

  it('without stdbuf, a burst that comes after the read wait leaves gaps with their reason, never 0 J', async () => {
    const intervals = await meterRun(bursts, 3_000, { stdbufPath: false });
    const gaps = intervals.filter((i) => i.energyMicroJoules === null);
    expect(gaps.length).toBeGreaterThanOrEqual(1);
    for (const gap of gaps) {
      expect(gap.gap).toMatchObject({
        code: 'PROBE_TIMEOUT',
        message: expect.stringMatching(/^no (new )?nvidia-smi (row|sample) /),
      });
    }
    expect(intervals.every((i) => i.energyMicroJoules === null || i.energyMicroJoules > 0n)).toBe(true);
  });
});

describe('wattledger probe on nvidia-smi', () => {
  itUnless(cliSkipReason())(
    'reads the power of a slow stream (a row every ~200 ms) without understating it',
    async () => {
      const fake = await fakeNvidiaSmi({ queryMs: 50, phaseTicks: 1_000_000 });
      cleanups.push(fake.cleanup);
      const args = [
        'probe',
        '--gpu-probe',
        'nvidia-smi',
        '--nvidia-smi',
        fake.nvidiaSmiPath,
        '--rapl',
        'off',
      ];
      const result = await runCli([...args, '--gpu-interval-ms', '150', '--sample-ms', '500', '--json'], {
        env: fake.env,
        timeoutMs: 30_000,
      });
      expect(result.code, `${CLI}: ${result.stderr}`).toBe(0);
      const report = JSON.parse(result.stdout) as {
        readings: { energyMicroJoules: string | null; startMonoNanos: string; endMonoNanos: string }[];
      };
      const [reading] = report.readings;
      expect(reading?.energyMicroJoules).not.toBeNull();
      const nanos = BigInt(reading?.endMonoNanos ?? 0) - BigInt(reading?.startMonoNanos ?? 0);
      const mean = Number((BigInt(reading?.energyMicroJoules ?? 0) * 1_000_000n) / nanos);
      expect(Math.abs(mean - IDLE_MILLIWATTS) / IDLE_MILLIWATTS).toBeLessThan(0.05);
    },
  );
});

describe('wattledger run on nvidia-smi', () => {
  itUnless(cliSkipReason())(
    'logs the dropped fields once, garbage rate-limited, and no gap lines for a jittered stream',
    async () => {
      const fake = await fakeNvidiaSmi({
        xml: SMI_XML_FIXTURES.teslaT4,
        unknownFields: ['power.draw.instant', 'mig.mode.current'],
        queryMs: 20,
        jitterMs: 30,
        garbageEvery: 3,
      });
      cleanups.push(fake.cleanup);
      const args = ['run', '--gpu-probe', 'nvidia-smi', '--nvidia-smi', fake.nvidiaSmiPath, '--rapl', 'off'];
      const child = startCli([...args, '--no-ledger', '--no-api'], fake.env);
      const done = collect(child, 30_000);
      await waitForStderr(child, (text) => text.includes('DAEMON_RUNNING'), 20_000);
      await new Promise((resolve) => setTimeout(resolve, 2_000)); // ~20 ticks, ~7 garbage lines
      child.kill('SIGTERM');
      const result = await done;
      expect(result.code, result.stderr).toBe(0);
      const events = parseLogLines(result.stderr).filter((l) => l.code === 'PROBE_EVENT');
      const byType = (type: string) => events.filter((l) => l.event === type);
      expect(byType('fields-dropped').map((l) => l.msg)).toEqual([
        'nvidia-smi: fields-dropped driver 515.105.01 rejected power.draw.instant, mig.mode.current; sampling without them',
      ]);
      // The first garbage line, then one summary when the probe closes.
      expect(byType('parse-error')).toHaveLength(2);
      const gapLines = parseLogLines(result.stderr).filter((l) =>
        String(l.msg).startsWith('measurement gap'),
      );
      expect(gapLines.length).toBeLessThanOrEqual(1);
    },
  );
});
