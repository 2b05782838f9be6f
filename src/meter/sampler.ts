import type { Clock } from '../clock.js';
import { describeError, ProbeError } from '../errors.js';
import type { DeviceInfo, DeviceReadResult, Probe } from '../probes/types.js';
import { DeviceMeter } from './device-meter.js';
import type { DeviceInterval, GapReason, MeterTick } from './types.js';

export interface SamplerOptions {
  readonly probe: Probe;
  readonly devices: readonly DeviceInfo[];
  readonly intervalMs: number;
  readonly readTimeoutMs: number;
  readonly clock: Clock;
  readonly onTick: (tick: MeterTick) => void;
  /** A tick that threw (a bug past the probe's own failure handling); the loop goes on. */
  readonly onTickError?: (error: unknown) => void;
}

type ReadOutcome =
  | { readonly kind: 'results'; readonly results: readonly DeviceReadResult[] }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'failed'; readonly error: unknown };

/**
 * Samples one probe on a fixed interval. Ticks never overlap: the next is scheduled only after the
 * current one finishes, and a read that outlives `readTimeoutMs` turns into `probe-timeout` gaps
 * (for that tick and every tick until the stuck read settles) instead of a second concurrent read.
 * Timer callbacks never reject.
 */
export class ProbeSampler {
  private readonly options: SamplerOptions;
  private readonly meters: readonly DeviceMeter[];
  private seq = 0;
  private stuckRead: Promise<unknown> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = true;
  private nextDueMs = 0;
  /** Ticks that started later than one interval after they were due (the host was too busy). */
  overruns = 0;
  /** Ticks that threw and were dropped (each also given to `onTickError`). */
  tickErrors = 0;

  constructor(options: SamplerOptions) {
    this.options = options;
    this.meters = options.devices.map((device) => new DeviceMeter(device));
  }

  /** Starts the loop; the first tick runs at once and takes the baseline reading. */
  start(): void {
    this.stopped = false;
    this.nextDueMs = performance.now();
    this.schedule();
  }

  /** Stops the loop and waits for a tick in progress, so nothing measured is lost. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.running) await this.running;
  }

  /** Runs one tick now: reads the probe and turns the results into device intervals. */
  async runOnce(): Promise<MeterTick> {
    const outcome = await this.read();
    const monoNanos = this.options.clock.monoNanos();
    const intervals: DeviceInterval[] = [];
    for (const [index, meter] of this.meters.entries()) {
      const interval = this.applyOutcome(meter, index, outcome, monoNanos);
      if (interval) intervals.push(interval);
    }
    const tick: MeterTick = {
      probe: this.options.probe.kind,
      seq: this.seq++,
      monoNanos,
      unixNanos: this.options.clock.wallUnixNanos(),
      intervals,
    };
    this.options.onTick(tick);
    return tick;
  }

  private schedule(): void {
    if (this.stopped) return;
    const now = performance.now();
    const delayMs = Math.max(0, this.nextDueMs - now);
    this.timer = setTimeout(() => void this.loopOnce(), delayMs);
  }

  private async loopOnce(): Promise<void> {
    this.timer = null;
    if (this.stopped) return;
    const startedMs = performance.now();
    if (startedMs - this.nextDueMs > this.options.intervalMs) this.overruns += 1;
    // runOnce handles probe failures itself; this catch only keeps a throwing listener from
    // stopping the loop.
    this.running = this.runOnce().catch((error: unknown) => {
      this.tickErrors += 1;
      try {
        this.options.onTickError?.(error);
      } catch {
        // A failing report must not stop the loop either.
      }
    });
    await this.running;
    this.running = null;
    // Keep to the grid; after an overrun, restart the grid from now rather than bursting.
    this.nextDueMs += this.options.intervalMs;
    if (this.nextDueMs < startedMs) this.nextDueMs = startedMs + this.options.intervalMs;
    this.schedule();
  }

  private async read(): Promise<ReadOutcome> {
    if (this.stuckRead) return { kind: 'timeout' };
    const controller = new AbortController();
    const readPromise = this.options.probe.read(controller.signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.options.readTimeoutMs);
    });
    try {
      const winner = await Promise.race([readPromise, timeout]);
      if (winner === 'timeout') {
        controller.abort();
        const settled = readPromise.then(
          () => undefined,
          () => undefined,
        );
        this.stuckRead = settled.finally(() => {
          this.stuckRead = null;
        });
        return { kind: 'timeout' };
      }
      return { kind: 'results', results: winner };
    } catch (error) {
      return { kind: 'failed', error };
    } finally {
      clearTimeout(timer);
    }
  }

  private applyOutcome(
    meter: DeviceMeter,
    index: number,
    outcome: ReadOutcome,
    monoNanos: bigint,
  ): DeviceInterval | null {
    if (outcome.kind === 'timeout') {
      const error = new ProbeError(
        'PROBE_TIMEOUT',
        `${this.options.probe.kind} read took longer than ${this.options.readTimeoutMs} ms`,
      );
      return meter.fail(monoNanos, 'probe-timeout', error);
    }
    if (outcome.kind === 'failed') {
      const error = new ProbeError(
        'PROBE_READ_FAILED',
        `${this.options.probe.kind} read threw: ${describeError(outcome.error)}`,
      );
      return meter.fail(monoNanos, 'read-failed', error);
    }
    // Match by id, falling back to position, so a probe that reorders results is still right.
    const result = outcome.results.find((r) => r.deviceId === meter.device.id) ?? outcome.results[index];
    if (!result || result.deviceId !== meter.device.id) {
      const error = new ProbeError(
        'PROBE_READ_FAILED',
        `${this.options.probe.kind} returned no result for ${meter.device.id}`,
      );
      return meter.fail(monoNanos, 'read-failed', error);
    }
    if (result.ok) return meter.observe(result.reading);
    return meter.fail(monoNanos, gapReasonFor(result.error), result.error);
  }
}

/** Maps a probe error code to the gap reason recorded with the interval. */
export function gapReasonFor(error: ProbeError): GapReason {
  if (error.code === 'PROBE_TIMEOUT' || error.code === 'NVML_TIMEOUT') return 'probe-timeout';
  if (error.code === 'PROBE_DEVICE_LOST' || error.code === 'NVML_GPU_IS_LOST') return 'device-lost';
  return 'read-failed';
}
