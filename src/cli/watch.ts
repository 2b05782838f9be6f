import { idleBaselineStatus } from '../attribution/idle-status.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import { CliError } from '../errors.js';
import { Meter } from '../meter/meter.js';
import type { DeviceInterval } from '../meter/types.js';
import { closeProbes, selectProbes } from '../probes/select.js';
import { averageMilliWatts, formatEnergy, formatPower, NANOS_PER_MILLI } from '../units.js';
import { SIMULATED_BANNER, shortId, simulatedFallbackNote, table } from './format.js';
import { idleBaselineText } from './probe.js';

export interface WatchOptions {
  readonly refreshMs: number;
  /** Stop after this many frames (for scripts); absent: until the signal aborts. */
  readonly frames?: number;
  readonly signal: AbortSignal;
  readonly out: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * `wattledger watch`: samples like the daemon does and redraws a table of live power and energy per
 * device in place (on a terminal) or prints one table per refresh (when piped).
 */
export async function runWatch(config: Config, clock: Clock, options: WatchOptions): Promise<void> {
  const selection = await selectProbes(config, clock);
  if (selection.opened.length === 0) {
    throw new CliError('CLI_NO_DEVICES', 'no device to watch: no probe could be opened', {
      hint: 'run `wattledger probe` to see why each probe was skipped, or add --simulate',
    });
  }
  const meter = new Meter(
    selection.opened.map(({ probe, inventory, intervalMs }) => ({
      probe,
      devices: inventory.devices,
      intervalMs,
    })),
    { clock, readTimeoutMs: config.meter.readTimeoutMs },
  );
  const latest = new Map<string, DeviceInterval>();
  meter.subscribe((tick) => {
    for (const interval of tick.intervals) latest.set(interval.deviceId, interval);
  });
  const startMono = clock.monoNanos();
  const tty = options.out.isTTY === true;
  const fallback = simulatedFallbackNote(selection.attempts);
  // What the daemon would subtract as idle power per GPU (attribution.idleBaseline), as `probe` shows it.
  const gpus = selection.opened
    .flatMap(({ inventory }) => inventory.devices)
    .filter((d) => d.hwType === 'gpu');
  const idleLines = idleBaselineText(
    idleBaselineStatus(
      config,
      gpus.map((d) => d.id),
    ),
  );
  meter.start();
  try {
    for (let frame = 0; options.frames === undefined || frame < options.frames; frame++) {
      const aborted = await sleep(options.refreshMs, options.signal);
      const frameText = [
        renderFrame(meter, latest, clock.monoNanos() - startMono, options.refreshMs),
        ...idleLines,
      ].join('\n');
      const text = fallback ? `${fallback}\n${frameText}` : frameText;
      options.out.write(tty ? `\x1b[H\x1b[2J${text}\n` : `${text}\n\n`);
      if (aborted) break;
    }
  } finally {
    await meter.stop();
    await closeProbes(selection);
  }
}

function renderFrame(
  meter: Meter,
  latest: Map<string, DeviceInterval>,
  elapsedNanos: bigint,
  refreshMs: number,
): string {
  const status = meter.status();
  const lines: string[] = [];
  if (status.some((s) => s.device.simulated)) lines.push(SIMULATED_BANNER);
  lines.push(
    `wattledger watch: ${status.length} devices, ${(Number(elapsedNanos / NANOS_PER_MILLI) / 1000).toFixed(1)} s, refresh ${refreshMs} ms, Ctrl+C to stop`,
  );
  const rows = [['DEVICE', 'NAME', 'TYPE', 'POWER', 'ENERGY', 'SOURCE', 'GAPS']];
  let total = 0n;
  for (const s of status) {
    const last = latest.get(s.device.id);
    if (s.device.accounting !== 'overlapping') total += s.energyMicroJoules;
    rows.push([
      shortId(s.device.id),
      s.device.name,
      s.device.accounting === 'overlapping' ? `${s.device.hwType} (overlaps)` : s.device.hwType,
      powerText(last),
      s.quality.unmeasuredReason === null
        ? formatEnergy(s.energyMicroJoules)
        : `UNMEASURED (${s.quality.unmeasuredReason})`,
      s.quality.source,
      s.quality.gapCount === 0 ? '0' : `${s.quality.gapCount} (last: ${s.lastGap?.reason ?? '-'})`,
    ]);
  }
  lines.push(table(rows, ''));
  lines.push(
    `measured since start: ${formatEnergy(total)} (boundary: the devices listed, as their sensors report them, overlapping zones not added; no idle split, no PUE)`,
  );
  return lines.join('\n');
}

/** Power of the latest interval: the sensor's reading, else the interval's mean. */
function powerText(interval: DeviceInterval | undefined): string {
  if (!interval) return '-';
  if (interval.powerMilliWatts !== null) return formatPower(interval.powerMilliWatts);
  if (interval.energyMicroJoules === null) return `gap: ${interval.gap?.reason ?? '?'}`;
  const mean = averageMilliWatts(interval.energyMicroJoules, interval.endMonoNanos - interval.startMonoNanos);
  return mean === null ? '-' : `${formatPower(mean)} avg`;
}

/** Resolves true if the signal aborted before `ms` passed. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(false);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
