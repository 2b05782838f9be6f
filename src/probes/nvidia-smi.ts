/**
 * The nvidia-smi fallback probe, used when NVML cannot be loaded: inventory from `-q -x`, power
 * from one long-lived `--query-gpu … -lms N` child. nvidia-smi has no energy counter, so every
 * device reports power samples and the meter integrates them.
 *
 * Sampling follows the sensor (docs/MEASUREMENT.md, "nvidia-smi"): each row is placed by its own
 * `timestamp` field; a read waits (up to `readWaitMs`) until every GPU that is streaming delivered
 * a row after the read began, so jitter, a slow query and short bursts give no empty reads; a
 * device is in a gap only when its newest sample is older than `gapPeriods` sample periods.
 */
import { ProbeError, type ProbeErrorCode } from '../errors.js';
import { type MonoNanos, nanosFromMillis } from '../units.js';
import {
  cellValue,
  rejectedField,
  type SmiCell,
  type SmiRow,
  type SmiUnavailable,
} from './nvidia-smi-csv.js';
import { queryInventory, type SmiInventory, type SmiInventoryGpu } from './nvidia-smi-inventory.js';
import { RepeatLimiter } from './nvidia-smi-log.js';
import { smiPowerSemantics } from './nvidia-smi-semantics.js';
import type { SmiStreamStatus } from './nvidia-smi-stream.js';
import {
  defaultHangTimeoutMs,
  NvidiaSmiStream,
  type SmiStreamEvent,
  type SmiStreamOptions,
} from './nvidia-smi-stream.js';
import { SmiTimeline } from './nvidia-smi-timeline.js';
import type { DeviceInfo, DeviceReadResult, PowerSample, Probe, ProbeInventory } from './types.js';

/** Options of {@link NvidiaSmiProbe}; durations in ms. Stream options pass through unchanged. */
export interface NvidiaSmiProbeOptions extends SmiStreamOptions {
  /** How long `open()` waits for the first row of every GPU (default: the stream's startup timeout). */
  readonly openTimeoutMs?: number;
  /** Limit for `nvidia-smi -q -x` (default 15 000). */
  readonly inventoryTimeoutMs?: number;
  /** Samples kept per device between reads; older ones are dropped (default 10 000). */
  readonly maxBufferedSamples?: number;
  /**
   * Longest a read waits for a row that arrived after it began (default 1000; keep it below the
   * meter's `readTimeoutMs`). Output that comes in bursts further apart than this gives gaps.
   */
  readonly readWaitMs?: number;
  /**
   * A device whose newest sample is older than this many sample periods is in a gap (default 10).
   * The period is the larger of `intervalMs` and the spacing of the row timestamps.
   */
  readonly gapPeriods?: number;
  /** Window of the log rate limit: one line per kind, repeats folded into a summary (default 60 000). */
  readonly logWindowMs?: number;
  /** Called for every stream event (restarts, hangs, parse errors), e.g. for tests. */
  readonly onEvent?: (event: SmiStreamEvent) => void;
  /** Rate-limited, aggregated log lines for an operator (`type` is a stable word, `detail` a sentence). */
  readonly log?: (type: string, detail: string) => void;
}

const HINT = 'check probes.nvidiaSmiPath and that the NVIDIA driver is loaded';
const DEFAULT_GAP_PERIODS = 10;
const DEFAULT_READ_WAIT_MS = 1_000;

/** Per-GPU buffer between reads. */
interface DeviceState {
  readonly gpu: SmiInventoryGpu;
  /** Chosen on the first row: `power.draw.instant` when the driver gives it, else `power.draw`. */
  useInstant?: boolean;
  firstRow?: SmiRow;
  latest?: SmiRow;
  /** Rows seen (any content), to tell a read that a fresh one came. */
  rows: number;
  lastArrivalMonoNanos?: MonoNanos;
  /** Sensor time of the newest sample handed out, and the smoothed spacing of row timestamps. */
  lastSampleMonoNanos?: MonoNanos;
  lastTimestampMillis?: number | undefined;
  periodNanos?: bigint;
  /** Rows with power since the previous read, placed on the clock only when read. */
  pending: PendingSample[];
  failure?: SmiUnavailable | undefined;
}

/** A power value as it arrived: placed by {@link SmiTimeline} at read time. */
interface PendingSample {
  readonly timestampMillis: number | undefined;
  readonly receivedMonoNanos: MonoNanos;
  readonly powerMilliWatts: number;
}

/** A stream failure (exit or hang) that reads report as a gap until rows flow again. */
interface Outage {
  readonly code: ProbeErrorCode;
  readonly message: string;
  active: boolean;
}

/** Probe over nvidia-smi. `open()` throws `ProbeError`; `read()` returns per-device results. */
export class NvidiaSmiProbe implements Probe {
  readonly kind = 'nvidia-smi' as const;
  private readonly hangTimeoutMs: number;
  private readonly limiter: RepeatLimiter;
  private readonly timeline: SmiTimeline;
  private stream: NvidiaSmiStream | undefined;
  private devices: DeviceState[] = [];
  private outage: Outage | undefined;
  private opened = false;
  private lastExit = '';
  private unmatchedRows = 0;
  private waiter: { check: () => void; fail: (error: ProbeError) => void } | undefined;
  private readWaiter: (() => void) | undefined;

  constructor(private readonly options: NvidiaSmiProbeOptions) {
    this.hangTimeoutMs = options.hangTimeoutMs ?? defaultHangTimeoutMs(options.intervalMs);
    this.timeline = new SmiTimeline(this.hangTimeoutMs);
    this.limiter = new RepeatLimiter(options.logWindowMs ?? 60_000, options.clock, (type, detail) =>
      options.log?.(type, detail),
    );
  }

  /**
   * Takes the inventory, starts the stream and waits for one row per GPU. Throws `ProbeError`:
   * `PROBE_UNAVAILABLE` (binary missing or failing), `PROBE_NO_DEVICES`, `PROBE_TIMEOUT`.
   */
  async open(signal?: AbortSignal): Promise<ProbeInventory> {
    const { nvidiaSmiPath, env, inventoryTimeoutMs } = this.options;
    const inventory = await queryInventory({
      nvidiaSmiPath,
      ...present({ env, timeoutMs: inventoryTimeoutMs }),
    });
    if (inventory.gpus.length === 0) {
      throw new ProbeError('PROBE_NO_DEVICES', `${nvidiaSmiPath} -q -x lists no gpus`, { hint: HINT });
    }
    signal?.throwIfAborted();
    this.devices = inventory.gpus.map((gpu) => ({ gpu, pending: [], rows: 0 }));
    const options = { ...this.options, hangTimeoutMs: this.hangTimeoutMs };
    this.stream = new NvidiaSmiStream(options, (event) => this.onEvent(event));
    this.stream.start();
    try {
      await this.waitForFirstRows(signal);
    } catch (error) {
      await this.close();
      throw error;
    }
    // Start-up trouble (e.g. the field fallback) is not a gap in a measurement not yet begun.
    this.outage = undefined;
    this.opened = true;
    const dropped = this.stream.status().droppedFields;
    if (dropped.length > 0) {
      this.options.log?.(
        'fields-dropped',
        `driver ${inventory.driverVersion ?? '(version unknown)'} rejected ${dropped.join(', ')}; sampling without them`,
      );
    }
    return this.describe(inventory);
  }

  /**
   * One result per GPU: the power samples that arrived since the previous read, oldest first,
   * placed at the time nvidia-smi took them. Waits up to `readWaitMs` for a fresh row first.
   */
  async read(signal: AbortSignal): Promise<readonly DeviceReadResult[]> {
    await this.waitForFreshRows(signal);
    const now = this.options.clock.monoNanos();
    const outage = this.outage;
    if (!outage?.active) this.outage = undefined;
    return this.devices.map((state) => this.takeReading(state, now, outage));
  }

  /** Stops the child (SIGTERM, then SIGKILL) and waits for it to exit. */
  async close(): Promise<void> {
    const stream = this.stream;
    this.stream = undefined;
    this.readWaiter?.();
    await stream?.stop();
    this.limiter.flush();
  }

  /** Health of the nvidia-smi child: restarts, hangs, parse errors, last stderr. */
  streamStatus():
    | (SmiStreamStatus & { readonly unmatchedRows: number; readonly clockResyncs: number })
    | undefined {
    const status = this.stream?.status();
    return status && { ...status, unmatchedRows: this.unmatchedRows, clockResyncs: this.timeline.resyncs };
  }

  private waitForFirstRows(signal: AbortSignal | undefined): Promise<void> {
    const { openTimeoutMs, startupTimeoutMs } = this.options;
    const timeoutMs = openTimeoutMs ?? startupTimeoutMs ?? Math.max(30_000, this.hangTimeoutMs);
    return new Promise<void>((resolve, reject) => {
      const finish = (error?: unknown): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiter = undefined;
        if (error === undefined) resolve();
        else reject(error);
      };
      const onAbort = (): void => finish(signal?.reason);
      const timer = setTimeout(() => {
        const last = this.lastExit === '' ? '' : ` (last nvidia-smi ${this.lastExit})`;
        const message = `no nvidia-smi rows for every gpu within ${timeoutMs} ms${last}`;
        finish(new ProbeError('PROBE_TIMEOUT', message, { hint: HINT }));
      }, timeoutMs).unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiter = {
        check: () => (this.devices.every((d) => d.firstRow) ? finish() : undefined),
        fail: (error) => finish(error),
      };
    });
  }

  /**
   * Resolves when every device that is streaming (a row within its gap threshold, no outage) has
   * a row that arrived after this call, or after `readWaitMs`, or on abort. nvidia-smi prints all
   * GPUs of a tick together, so once one device got its fresh row the others get a short grace
   * (half a sample period) and no more: a GPU missing from the stream does not hold reads up.
   * Never rejects.
   */
  private waitForFreshRows(signal: AbortSignal): Promise<void> {
    const now = this.options.clock.monoNanos();
    const live = this.outage?.active
      ? []
      : this.devices.filter(
          (d) => d.lastArrivalMonoNanos !== undefined && now - d.lastArrivalMonoNanos <= this.gapNanos(d),
        );
    const seen = new Map(live.map((d) => [d, d.rows]));
    const isFresh = (d: DeviceState): boolean => d.rows > (seen.get(d) ?? 0);
    if (live.length === 0 || signal.aborted || this.stream === undefined) return Promise.resolve();
    const graceMs = Math.max(10, Math.floor(this.options.intervalMs / 2));
    return new Promise<void>((resolve) => {
      let grace: NodeJS.Timeout | undefined;
      const finish = (): void => {
        clearTimeout(timer);
        clearTimeout(grace);
        signal.removeEventListener('abort', finish);
        this.readWaiter = undefined;
        resolve();
      };
      const timer = setTimeout(finish, this.options.readWaitMs ?? DEFAULT_READ_WAIT_MS);
      signal.addEventListener('abort', finish, { once: true });
      this.readWaiter = () => {
        if (this.stream === undefined || live.every(isFresh)) finish();
        else if (grace === undefined && live.some(isFresh)) grace = setTimeout(finish, graceMs);
      };
    });
  }

  private onEvent(event: SmiStreamEvent): void {
    this.options.onEvent?.(event);
    if (event.type === 'row') this.onRow(event.row, event.monoNanos);
    else if (event.type === 'exited') {
      const output = event.stderr !== '' ? event.stderr : event.stdout;
      const text = output === '' ? '' : `: ${output.slice(0, 300)}`;
      this.lastExit = `exit code ${event.code ?? 'none'}, signal ${event.signal ?? 'none'}${text}`;
    } else if (event.type === 'hung') {
      const message = `nvidia-smi sent no rows for ${event.silentMs} ms; restarted it`;
      this.outage = { code: 'PROBE_TIMEOUT', message, active: true };
      this.limiter.note('hung', message);
    } else if (event.type === 'restart-scheduled') {
      if (!this.opened) {
        // During open() a child that dies before its first row means this binary cannot sample here.
        const message = `nvidia-smi --query-gpu stopped before its first row (${this.lastExit}); gave up`;
        this.waiter?.fail(new ProbeError('PROBE_UNAVAILABLE', message, { hint: HINT }));
        return;
      }
      const message = `nvidia-smi stopped (${this.lastExit}); restarting in ${event.delayMs} ms`;
      // A hang already explains this exit; keep its code.
      if (!this.outage?.active) this.outage = { code: 'PROBE_READ_FAILED', message, active: true };
      this.limiter.note('restart', message);
    } else if (event.type === 'parse-error' && rejectedField(event.line) === undefined) {
      // (A rejected field printed on stdout is the field fallback's business, not garbage.)
      this.limiter.note(
        'parse-error',
        `unparsable nvidia-smi line (${event.message}): ${event.line.slice(0, 120)}`,
      );
    } else if (event.type === 'stdbuf-dropped') {
      this.limiter.note('stdbuf-dropped', `stdbuf failed, running nvidia-smi without it: ${event.message}`);
    } else if (event.type === 'spawn-failed') {
      this.limiter.note('spawn-failed', event.message);
    } else if (event.type === 'field-fallback' && this.opened) {
      this.limiter.note('field-fallback', `driver rejected ${event.field}: ${event.message}`);
    }
  }

  private onRow(row: SmiRow, arrivalMonoNanos: MonoNanos): void {
    const uuid = cellValue(row.uuid);
    const index = cellValue(row.index);
    // Match on UUID; a lost GPU may print `[GPU is lost]` there, so fall back to the index.
    const state = this.devices.find((d) =>
      uuid === undefined ? d.gpu.index === index : d.gpu.uuid === uuid,
    );
    if (!state) {
      this.unmatchedRows += 1;
      this.limiter.note(
        'unmatched-row',
        `nvidia-smi row for a gpu not in -q -x: ${uuid ?? `index ${index}`}`,
      );
      return;
    }
    if (this.outage) this.outage.active = false;
    state.useInstant ??= row.powerInstantMilliWatts?.kind === 'value';
    state.firstRow ??= row;
    state.latest = row;
    state.rows += 1;
    state.lastArrivalMonoNanos = arrivalMonoNanos;
    const timestampMillis = cellValue(row.timestampMillis);
    this.timeline.observe(timestampMillis, arrivalMonoNanos);
    this.updatePeriod(state, timestampMillis);
    this.addSample(state, row, timestampMillis, arrivalMonoNanos);
    this.waiter?.check();
    this.readWaiter?.();
  }

  /** Integer EWMA (1/8) of the spacing of a device's row timestamps; the first spacing seeds it. */
  private updatePeriod(state: DeviceState, timestampMillis: number | undefined): void {
    const previous = state.lastTimestampMillis;
    state.lastTimestampMillis = timestampMillis;
    if (previous === undefined || timestampMillis === undefined || timestampMillis <= previous) return;
    const spacing = nanosFromMillis(timestampMillis - previous);
    state.periodNanos =
      state.periodNanos === undefined ? spacing : state.periodNanos + (spacing - state.periodNanos) / 8n;
  }

  /** Places the pending rows of a device, in order and strictly after the previous sample handed out. */
  private placePending(state: DeviceState): PowerSample[] {
    const samples: PowerSample[] = [];
    for (const p of state.pending) {
      const placed = this.timeline.place(p.timestampMillis, p.receivedMonoNanos);
      const previous = state.lastSampleMonoNanos;
      // Two rows in one millisecond (or a re-anchored clock): keep the order, 1 ns apart.
      const monoNanos = previous !== undefined && placed <= previous ? previous + 1n : placed;
      state.lastSampleMonoNanos = monoNanos;
      const { powerMilliWatts, receivedMonoNanos } = p;
      samples.push(
        receivedMonoNanos === monoNanos
          ? { monoNanos, powerMilliWatts }
          : { monoNanos, powerMilliWatts, receivedMonoNanos },
      );
    }
    state.pending = [];
    return samples;
  }

  /** More than `gapPeriods` sample periods without a sample is a gap. */
  private gapNanos(state: DeviceState): bigint {
    const interval = nanosFromMillis(this.options.intervalMs);
    const period =
      state.periodNanos !== undefined && state.periodNanos > interval ? state.periodNanos : interval;
    return period * BigInt(this.options.gapPeriods ?? DEFAULT_GAP_PERIODS);
  }

  private addSample(
    state: DeviceState,
    row: SmiRow,
    timestampMillis: number | undefined,
    receivedMonoNanos: MonoNanos,
  ): void {
    const missing: SmiUnavailable = { kind: 'unavailable', reason: 'not queried', category: 'not-supported' };
    const power: SmiCell<number> =
      (state.useInstant ? row.powerInstantMilliWatts : row.powerDrawMilliWatts) ?? missing;
    if (power.kind === 'unavailable') {
      if (state.failure?.category !== 'gpu-lost') state.failure = power;
      return;
    }
    state.pending.push({ timestampMillis, receivedMonoNanos, powerMilliWatts: power.value });
    const max = this.options.maxBufferedSamples ?? 10_000;
    if (state.pending.length > max) state.pending.splice(0, state.pending.length - max);
  }

  private takeReading(state: DeviceState, now: bigint, outage: Outage | undefined): DeviceReadResult {
    const { failure, gpu, latest } = state;
    const deviceId = gpu.uuid;
    const samples = this.placePending(state);
    const { lastSampleMonoNanos } = state;
    state.failure = undefined;
    const fail = (code: ProbeErrorCode, message: string): DeviceReadResult => ({
      ok: false,
      deviceId,
      error: new ProbeError(code, message, { hint: HINT }),
    });
    if (outage) return fail(outage.code, outage.message);
    if (failure) {
      const field = state.useInstant ? 'power.draw.instant' : 'power.draw';
      return fail(
        FAILURE_CODES[failure.category],
        `nvidia-smi reports ${field} of ${deviceId} as [${failure.reason}]`,
      );
    }
    const gapNanos = this.gapNanos(state);
    if (lastSampleMonoNanos === undefined || now - lastSampleMonoNanos > gapNanos) {
      const periods = this.options.gapPeriods ?? DEFAULT_GAP_PERIODS;
      const message = `no nvidia-smi sample of ${deviceId} for more than ${periods} sample periods (${gapNanos / 1_000_000n} ms)`;
      return fail('PROBE_TIMEOUT', message);
    }
    if (samples.length === 0) {
      const ageMs = (now - lastSampleMonoNanos) / 1_000_000n;
      const message = `no new nvidia-smi row for ${deviceId} in this read (newest sample ${ageMs} ms old)`;
      return fail('PROBE_TIMEOUT', message);
    }
    const reading = {
      monoNanos: now,
      powerSamples: samples,
      ...present({
        utilizationGpuPercent: cellValue(latest?.utilizationGpuPercent),
        memoryUsedBytes: cellValue(latest?.memoryUsedBytes),
        memoryTotalBytes: cellValue(latest?.memoryTotalBytes),
      }),
    };
    return { ok: true, deviceId, reading };
  }

  private describe(inventory: SmiInventory): ProbeInventory {
    const status = this.stream?.status();
    const fields = status?.fields ?? [];
    const dropped = status?.droppedFields ?? [];
    const notes = [...inventory.notes];
    if (dropped.length > 0) {
      notes.push(
        `driver rejected ${dropped.join(', ')}; sampling without ${dropped.length === 1 ? 'it' : 'them'}`,
      );
    }
    for (const d of this.devices) {
      const field = d.useInstant ? 'power.draw.instant' : 'power.draw';
      const power = d.useInstant ? d.firstRow?.powerInstantMilliWatts : d.firstRow?.powerDrawMilliWatts;
      if (power?.kind === 'unavailable') {
        notes.push(
          `${d.gpu.uuid} reports ${field} as [${power.reason}]: no power reading, its energy is unmeasured`,
        );
      }
    }
    if (this.devices.some((d) => d.gpu.migMode === 'enabled')) {
      notes.push('mig is enabled: power is for the whole gpu and utilization.gpu is n/a');
    }
    const { driverVersion, cudaVersion } = inventory;
    return {
      devices: this.devices.map((d) => deviceInfo(d.gpu, d.firstRow, d.useInstant === true, driverVersion)),
      details: {
        nvidiaSmiPath: this.options.nvidiaSmiPath,
        fields: fields.join(','),
        ...(dropped.length > 0 ? { droppedFields: dropped.join(',') } : {}),
        ...(status?.stdbufPath ? { lineBuffered: `${status.stdbufPath} -oL` } : {}),
        ...present({ driverVersion, cudaVersion }),
      },
      notes,
    };
  }
}

const FAILURE_CODES: Readonly<Record<SmiUnavailable['category'], ProbeErrorCode>> = {
  'gpu-lost': 'PROBE_DEVICE_LOST',
  error: 'PROBE_READ_FAILED',
  'not-supported': 'PROBE_NOT_SUPPORTED',
  'not-applicable': 'PROBE_NOT_SUPPORTED',
};

type Present<T> = { [K in keyof T]?: Exclude<T[K], undefined> };

/** Drops keys whose value is undefined: optional properties under `exactOptionalPropertyTypes`. */
function present<T extends Record<string, unknown>>(values: T): Present<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Present<T>;
}

function deviceInfo(
  gpu: SmiInventoryGpu,
  first: SmiRow | undefined,
  useInstant: boolean,
  driverVersion?: string,
): DeviceInfo {
  // The live enforced limit from the stream is fresher than the one in the XML inventory.
  const limit = cellValue(first?.enforcedPowerLimitMilliWatts) ?? cellValue(gpu.power?.limitMilliWatts);
  const semantics = smiPowerSemantics(gpu, useInstant);
  const details = {
    powerField: semantics.field,
    powerSemanticsRule: semantics.rule,
    architecture: semantics.architecture,
    architectureSource: semantics.architectureSource,
    ...present({
      memoryTotalBytes: gpu.memoryTotalBytes?.toString(),
      xmlPowerLayout: gpu.power?.layout,
      migDevices: gpu.migMode === 'enabled' ? String(gpu.migDeviceCount) : undefined,
    }),
  };
  return {
    id: gpu.uuid,
    probe: 'nvidia-smi',
    hwType: 'gpu',
    name: gpu.name,
    vendor: 'NVIDIA',
    index: gpu.index,
    ...present({ serial: gpu.serial, pciBusId: gpu.pciBusId, powerLimitMilliWatts: limit }),
    ...present({ migMode: gpu.migMode, driverVersion }),
    hasEnergyCounter: false,
    powerSemantics: semantics.semantics,
    details,
    simulated: false,
  };
}
