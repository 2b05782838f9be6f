/**
 * The nvidia-smi fallback probe, used when NVML cannot be loaded: inventory from `-q -x`
 * (node-nvidia-smi), power from one long-lived `--query-gpu … -lms N` child. nvidia-smi has no
 * energy counter, so every device reports power samples and the meter integrates them.
 */
import { ProbeError, type ProbeErrorCode } from '../errors.js';
import { nanosFromMillis } from '../units.js';
import { cellValue, type SmiCell, type SmiRow, type SmiUnavailable } from './nvidia-smi-csv.js';
import { queryInventory, type SmiInventory, type SmiInventoryGpu } from './nvidia-smi-inventory.js';
import type { SmiStreamStatus } from './nvidia-smi-stream.js';
import {
  defaultHangTimeoutMs,
  NvidiaSmiStream,
  type SmiStreamEvent,
  type SmiStreamOptions,
} from './nvidia-smi-stream.js';
import type { DeviceInfo, DeviceReadResult, PowerSample, Probe, ProbeInventory } from './types.js';

/** Options of {@link NvidiaSmiProbe}; durations in ms. Stream options pass through unchanged. */
export interface NvidiaSmiProbeOptions extends SmiStreamOptions {
  /** How long `open()` waits for the first row of every GPU (default: the stream's startup timeout). */
  readonly openTimeoutMs?: number;
  /** Limit for `nvidia-smi -q -x` (default 15 000). */
  readonly inventoryTimeoutMs?: number;
  /** Samples kept per device between reads; older ones are dropped (default 10 000). */
  readonly maxBufferedSamples?: number;
  /** Called for every stream event (restarts, hangs, parse errors), e.g. to log them. */
  readonly onEvent?: (event: SmiStreamEvent) => void;
}

const HINT = 'check probes.nvidiaSmiPath and that the NVIDIA driver is loaded';

/** Per-GPU buffer between reads. */
interface DeviceState {
  readonly gpu: SmiInventoryGpu;
  /** Chosen on the first row: `power.draw.instant` when the driver gives it, else `power.draw`. */
  useInstant?: boolean;
  firstRow?: SmiRow;
  latest?: SmiRow;
  lastRowMonoNanos?: bigint;
  samples: PowerSample[];
  failure?: SmiUnavailable | undefined;
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
  private stream: NvidiaSmiStream | undefined;
  private devices: DeviceState[] = [];
  private outage: Outage | undefined;
  private lastExit = '';
  private unmatchedRows = 0;
  private waiter: { check: () => void; fail: (error: ProbeError) => void } | undefined;

  constructor(private readonly options: NvidiaSmiProbeOptions) {
    this.hangTimeoutMs = options.hangTimeoutMs ?? defaultHangTimeoutMs(options.intervalMs);
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
    this.devices = inventory.gpus.map((gpu) => ({ gpu, samples: [] }));
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
    return this.describe(inventory);
  }

  /** One result per GPU: the power samples that arrived since the previous read, oldest first. */
  async read(_signal: AbortSignal): Promise<readonly DeviceReadResult[]> {
    const now = this.options.clock.monoNanos();
    const outage = this.outage;
    if (!outage?.active) this.outage = undefined;
    return this.devices.map((state) => this.takeReading(state, now, outage));
  }

  /** Stops the child (SIGTERM, then SIGKILL) and waits for it to exit. */
  async close(): Promise<void> {
    const stream = this.stream;
    this.stream = undefined;
    await stream?.stop();
  }

  /** Health of the nvidia-smi child: restarts, hangs, parse errors, last stderr. */
  streamStatus(): (SmiStreamStatus & { readonly unmatchedRows: number }) | undefined {
    const status = this.stream?.status();
    return status && { ...status, unmatchedRows: this.unmatchedRows };
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

  private onEvent(event: SmiStreamEvent): void {
    this.options.onEvent?.(event);
    if (event.type === 'row') this.onRow(event.row, event.monoNanos);
    else if (event.type === 'exited') {
      const stderr = event.stderr === '' ? '' : `: ${event.stderr.slice(0, 300)}`;
      this.lastExit = `exit code ${event.code ?? 'none'}, signal ${event.signal ?? 'none'}${stderr}`;
    } else if (event.type === 'hung') {
      const message = `nvidia-smi sent no rows for ${event.silentMs} ms; restarted it`;
      this.outage = { code: 'PROBE_TIMEOUT', message, active: true };
    } else if (event.type === 'restart-scheduled') {
      const message = `nvidia-smi stopped (${this.lastExit}); restarting in ${event.delayMs} ms`;
      // During open() a restart means this binary cannot sample here: fail fast.
      this.waiter?.fail(new ProbeError('PROBE_UNAVAILABLE', message, { hint: HINT }));
      // A hang already explains this exit; keep its code.
      if (!this.outage?.active) this.outage = { code: 'PROBE_READ_FAILED', message, active: true };
    }
  }

  private onRow(row: SmiRow, monoNanos: bigint): void {
    const uuid = cellValue(row.uuid);
    const index = cellValue(row.index);
    // Match on UUID; a lost GPU may print `[GPU is lost]` there, so fall back to the index.
    const state = this.devices.find((d) =>
      uuid === undefined ? d.gpu.index === index : d.gpu.uuid === uuid,
    );
    if (!state) {
      this.unmatchedRows += 1;
      return;
    }
    if (this.outage) this.outage.active = false;
    state.useInstant ??= row.powerInstantMilliWatts?.kind === 'value';
    state.firstRow ??= row;
    state.latest = row;
    state.lastRowMonoNanos = monoNanos;
    this.addSample(state, row, monoNanos);
    this.waiter?.check();
  }

  private addSample(state: DeviceState, row: SmiRow, monoNanos: bigint): void {
    const missing: SmiUnavailable = { kind: 'unavailable', reason: 'not queried', category: 'not-supported' };
    const power: SmiCell<number> =
      (state.useInstant ? row.powerInstantMilliWatts : row.powerDrawMilliWatts) ?? missing;
    if (power.kind === 'unavailable') {
      if (state.failure?.category !== 'gpu-lost') state.failure = power;
      return;
    }
    state.samples.push({ monoNanos, powerMilliWatts: power.value });
    const max = this.options.maxBufferedSamples ?? 10_000;
    if (state.samples.length > max) state.samples.splice(0, state.samples.length - max);
  }

  private takeReading(state: DeviceState, now: bigint, outage: Outage | undefined): DeviceReadResult {
    const { samples, failure, gpu, latest, lastRowMonoNanos } = state;
    const deviceId = gpu.uuid;
    state.samples = [];
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
    if (lastRowMonoNanos === undefined || now - lastRowMonoNanos > nanosFromMillis(this.hangTimeoutMs)) {
      return fail('PROBE_TIMEOUT', `no nvidia-smi row for ${deviceId} within ${this.hangTimeoutMs} ms`);
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
    const fields = this.stream?.status().fields ?? [];
    const notes = [...inventory.notes];
    if (!fields.includes('power.draw.instant')) {
      notes.push(
        'driver rejected power.draw.instant; sampling power.draw (a 1 s average on Ampere and newer)',
      );
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
  const details = {
    powerField: useInstant ? 'power.draw.instant' : 'power.draw',
    ...present({
      architecture: gpu.architecture,
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
    // power.draw is a 1 s average on Ampere and newer; only the instant field is instantaneous.
    powerSemantics: useInstant ? 'instant' : 'average-1s',
    details,
    simulated: false,
  };
}
