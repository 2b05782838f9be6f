/**
 * One long-lived `nvidia-smi --query-gpu=… --format=csv,noheader,nounits -lms N` child process,
 * read as a line stream, restarted with exponential backoff when it exits or hangs.
 *
 * Row timestamps come from the injected {@link Clock}. Restart delays, hang detection and the
 * healthy-run reset use real (unref'd) timers: they are control logic, not measurements.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Clock } from '../clock.js';
import type { MonoNanos } from '../units.js';
import {
  LineSplitter,
  parseSmiCsvLine,
  rejectedField,
  SMI_FIELDS,
  SMI_REQUIRED_FIELDS,
  type SmiField,
  type SmiRow,
} from './nvidia-smi-csv.js';

/** Options of {@link NvidiaSmiStream}; durations in ms. */
export interface SmiStreamOptions {
  readonly nvidiaSmiPath: string;
  readonly intervalMs: number;
  readonly clock: Clock;
  /** Extra environment for the child, merged over `process.env`. */
  readonly env?: Readonly<Record<string, string>>;
  /** No row for this long → kill and restart. Default: max(10 s, 20 × intervalMs). */
  readonly hangTimeoutMs?: number;
  /**
   * Allowance for the first row of each child (default max(30 s, hang timeout)): without
   * persistence mode, nvidia-smi initialises every GPU first, which takes seconds.
   */
  readonly startupTimeoutMs?: number;
  /** First restart delay (default 250), doubled per consecutive failure up to `backoffMaxMs` (30 000). */
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  /** A child that delivered rows for this long resets the backoff (default 60 000). */
  readonly healthyResetMs?: number;
  /** SIGTERM, then SIGKILL after this long (default 2000). */
  readonly killGraceMs?: number;
  /** Bytes of stderr kept for error messages (default 4096, the tail). */
  readonly stderrLimitBytes?: number;
  /**
   * Run nvidia-smi under `stdbuf -oL` so that its stdout, a pipe here, is line-buffered rather
   * than written in 4 KiB bursts: the path of `stdbuf`, or `false` not to. Default: `stdbuf` from
   * `PATH` when there is one. A `stdbuf` that fails before the first row is dropped for good.
   */
  readonly stdbufPath?: string | false;
}

/** Everything the stream does that a probe or an operator may care about. */
export type SmiStreamEvent =
  | { readonly type: 'started'; readonly pid: number; readonly fields: readonly SmiField[] }
  | { readonly type: 'row'; readonly row: SmiRow; readonly monoNanos: MonoNanos }
  | { readonly type: 'parse-error'; readonly message: string; readonly line: string }
  | { readonly type: 'hung'; readonly silentMs: number }
  | {
      readonly type: 'exited';
      readonly code: number | null;
      readonly signal: string | null;
      readonly stderr: string;
      /** Lines on stdout that were not rows (some builds print their errors there), last first 300 chars. */
      readonly stdout: string;
      /** `true` when this child printed at least one row. */
      readonly hadRows: boolean;
    }
  | { readonly type: 'spawn-failed'; readonly message: string }
  /** `stdbuf` failed before any row; the query runs without it from now on. */
  | { readonly type: 'stdbuf-dropped'; readonly message: string }
  /**
   * The driver rejected a field: `field` is dropped and the query retried at once. `dropped` is
   * every field dropped so far; `message` is nvidia-smi's own text.
   */
  | {
      readonly type: 'field-fallback';
      readonly field: SmiField;
      readonly dropped: readonly SmiField[];
      readonly message: string;
    }
  | { readonly type: 'restart-scheduled'; readonly delayMs: number };

/** A snapshot of the stream's health, for `probe` diagnostics. */
export interface SmiStreamStatus {
  readonly running: boolean;
  readonly pid: number | undefined;
  readonly fields: readonly SmiField[];
  /** The `stdbuf` that line-buffers the child's stdout, or undefined when it runs without one. */
  readonly stdbufPath: string | undefined;
  /** Fields the driver rejected, in the order it rejected them. */
  readonly droppedFields: readonly SmiField[];
  readonly starts: number;
  readonly hangs: number;
  readonly rows: number;
  readonly parseErrors: number;
  readonly lastStderr: string;
  readonly nextBackoffMs: number;
}

const STREAM_DEFAULTS = {
  backoffInitialMs: 250,
  backoffMaxMs: 30_000,
  healthyResetMs: 60_000,
  killGraceMs: 2_000,
  stderrLimitBytes: 4_096,
};

/** Manages the child; `onEvent` is called synchronously for every {@link SmiStreamEvent}. */
export class NvidiaSmiStream {
  private readonly opts: Required<Omit<SmiStreamOptions, 'env' | 'stdbufPath'>> &
    Pick<SmiStreamOptions, 'env'>;
  private stdbufPath: string | undefined;
  private fields: readonly SmiField[] = SMI_FIELDS;
  private dropped: SmiField[] = [];
  private child: ChildProcess | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private hangTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private counters = { starts: 0, hangs: 0, rows: 0, parseErrors: 0 };
  private lastStderr = '';

  constructor(
    options: SmiStreamOptions,
    private readonly onEvent: (event: SmiStreamEvent) => void,
  ) {
    const hangTimeoutMs = options.hangTimeoutMs ?? defaultHangTimeoutMs(options.intervalMs);
    const startupTimeoutMs = options.startupTimeoutMs ?? Math.max(30_000, hangTimeoutMs);
    this.opts = { ...STREAM_DEFAULTS, ...options, hangTimeoutMs, startupTimeoutMs };
    this.stdbufPath =
      options.stdbufPath === false ? undefined : (options.stdbufPath ?? findOnPath('stdbuf', options.env));
    this.backoffMs = this.opts.backoffInitialMs;
  }

  /** Spawns the child. Spawn failures are events (and retried), never exceptions. */
  start(): void {
    this.stopping = false;
    this.spawnChild();
  }

  /** Stops restarting, terminates the child (SIGTERM, then SIGKILL) and waits for it to exit. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.hangTimer);
    const child = this.child;
    if (child) await this.terminate(child);
    clearTimeout(this.killTimer);
  }

  /** Current health counters. */
  status(): SmiStreamStatus {
    return {
      running: this.child !== undefined,
      pid: this.child?.pid,
      fields: this.fields,
      stdbufPath: this.stdbufPath,
      droppedFields: [...this.dropped],
      ...this.counters,
      lastStderr: this.lastStderr,
      nextBackoffMs: this.backoffMs,
    };
  }

  private spawnChild(): void {
    const args = [
      `--query-gpu=${this.fields.join(',')}`,
      '--format=csv,noheader,nounits',
      `-lms`,
      `${this.opts.intervalMs}`,
    ];
    // LC_ALL=C: decimal points, not locale commas, in the watts we parse.
    const env = { ...process.env, ...this.opts.env, LC_ALL: 'C' };
    // detached: the child leads its own process group, so stopping it also stops whatever a
    // wrapper script (a container shim around the real binary) started.
    const [command, argv] = this.stdbufPath
      ? [this.stdbufPath, ['-oL', this.opts.nvidiaSmiPath, ...args]]
      : [this.opts.nvidiaSmiPath, args];
    const child = spawn(command, argv, {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
      detached: true,
    });
    this.child = child;
    this.counters.starts += 1;
    const run: RunState = { firstRowAt: undefined, unparsed: new TextTail(600) };
    const stderr = new TextTail(this.opts.stderrLimitBytes);
    const fieldsForRun = this.fields;
    const lines = new LineSplitter((line) => this.onLine(line, fieldsForRun, run));
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => lines.push(chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
    child.once('spawn', () => this.onEvent({ type: 'started', pid: child.pid ?? -1, fields: fieldsForRun }));
    child.once('error', (error) => {
      // ENOENT/EACCES arrive here and 'close' follows (code -2 …); the restart happens there.
      stderr.push(error.message);
      this.onEvent({
        type: 'spawn-failed',
        message: `cannot run ${this.opts.nvidiaSmiPath}: ${error.message}`,
      });
    });
    child.once('close', (code, signal) => {
      lines.flush();
      this.onClose(child, { code, signal, stderr: stderr.text() }, run);
    });
    this.armHangTimer(this.opts.startupTimeoutMs);
  }

  private onLine(line: string, fields: readonly SmiField[], run: RunState): void {
    const result = parseSmiCsvLine(line, fields);
    if (result.kind === 'skip') return;
    if (result.kind === 'error') {
      // Some builds print their errors (the unknown-field message) on stdout rather than stderr.
      run.unparsed.push(`${line.trim()}\n`);
      this.counters.parseErrors += 1;
      this.onEvent({ type: 'parse-error', message: result.message, line: result.line.slice(0, 200) });
      return;
    }
    this.counters.rows += 1;
    if (run.firstRowAt === undefined) {
      run.firstRowAt = performance.now();
      this.armHangTimer(this.opts.hangTimeoutMs);
    } else {
      this.hangTimer?.refresh();
    }
    this.onEvent({ type: 'row', row: result.row, monoNanos: this.opts.clock.monoNanos() });
  }

  private armHangTimer(timeoutMs: number): void {
    clearTimeout(this.hangTimer);
    this.hangTimer = setTimeout(() => {
      const child = this.child;
      if (!child || this.stopping) return;
      this.counters.hangs += 1;
      this.onEvent({ type: 'hung', silentMs: timeoutMs });
      void this.terminate(child);
    }, timeoutMs).unref();
  }

  private onClose(
    child: ChildProcess,
    exit: { code: number | null; signal: string | null; stderr: string },
    run: RunState,
  ): void {
    if (this.child !== child) return;
    this.child = undefined;
    clearTimeout(this.hangTimer);
    const { code, signal, stderr } = exit;
    const stdout = run.unparsed.text();
    if (stderr !== '') this.lastStderr = stderr;
    const hadRows = run.firstRowAt !== undefined;
    this.onEvent({ type: 'exited', code, signal, stderr, stdout, hadRows });
    if (this.stopping) return;
    if (!hadRows && this.stdbufPath && /^stdbuf:/m.test(stderr)) {
      // stdbuf itself failed (no libstdbuf.so, say): line buffering is a nicety, not a need.
      this.stdbufPath = undefined;
      this.onEvent({ type: 'stdbuf-dropped', message: stderr.split('\n')[0] ?? '' });
      this.spawnChild();
      return;
    }
    const rejected = hadRows ? undefined : this.droppable(`${stderr}\n${stdout}`);
    if (rejected !== undefined) {
      // An older driver does not know this field (R418–R510 reject power.draw.instant, before
      // R450 mig.mode.current too): drop it and retry at once; this is not a failure.
      this.fields = this.fields.filter((f) => f !== rejected);
      this.dropped.push(rejected);
      const message = (stderr !== '' ? stderr : stdout).split('\n')[0] ?? '';
      this.onEvent({ type: 'field-fallback', field: rejected, dropped: [...this.dropped], message });
      this.spawnChild();
      return;
    }
    if (run.firstRowAt !== undefined && performance.now() - run.firstRowAt >= this.opts.healthyResetMs) {
      this.backoffMs = this.opts.backoffInitialMs;
    }
    this.scheduleRestart();
  }

  /** The rejected field named in nvidia-smi's output, when it is one this stream may do without. */
  private droppable(output: string): SmiField | undefined {
    const field = rejectedField(output);
    const known = this.fields.find((f) => f === field);
    return known !== undefined && !SMI_REQUIRED_FIELDS.includes(known) ? known : undefined;
  }

  private scheduleRestart(): void {
    const delayMs = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.backoffMaxMs);
    this.onEvent({ type: 'restart-scheduled', delayMs });
    this.restartTimer = setTimeout(() => {
      if (!this.stopping) this.spawnChild();
    }, delayMs).unref();
  }

  private terminate(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('close', () => resolve());
      signalGroup(child, 'SIGTERM');
      clearTimeout(this.killTimer);
      this.killTimer = setTimeout(() => signalGroup(child, 'SIGKILL'), this.opts.killGraceMs).unref();
    });
  }
}

/** The first executable `name` on `PATH` (the child's `PATH` when `env` sets one). */
function findOnPath(name: string, env: Readonly<Record<string, string>> | undefined): string | undefined {
  const path = env?.PATH ?? process.env.PATH ?? '';
  for (const dir of path.split(delimiter).filter((d) => d !== '')) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Signals the child's process group (it leads one: spawned detached), else the child alone. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    child.kill(signal);
  }
}

/** Block-buffered stdout delivers rows in bursts (4 KiB ≈ 25 rows), so allow many intervals. */
export function defaultHangTimeoutMs(intervalMs: number): number {
  return Math.max(10_000, 20 * intervalMs);
}

/** Per-child bookkeeping (real time, for the backoff reset only). */
interface RunState {
  firstRowAt: number | undefined;
  /** The tail of stdout lines that were not rows. */
  readonly unparsed: TextTail;
}

/** Keeps the last `limit` characters of a text stream (stderr), for error messages. */
class TextTail {
  private buffer = '';
  constructor(private readonly limit: number) {}
  push(chunk: string): void {
    this.buffer = (this.buffer + chunk).slice(-this.limit);
  }
  text(): string {
    return this.buffer.trim();
  }
}
