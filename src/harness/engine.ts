import type { Clock } from '../clock.js';
import { type MicroJoules, type MonoNanos, NANOS_PER_SECOND } from '../units.js';
import type { TruthLedger } from './truth-ledger.js';
import type { Scheduler } from './virtual-time.js';

/** What one model costs on the simulated GPU, and how fast it decodes. */
export interface SimulatedModel {
  /** Energy of one uncached prompt token (the simulator's a), µJ. */
  readonly prefillMicroJoulesPerToken: MicroJoules;
  /** Energy of one output token (the simulator's b), µJ. */
  readonly decodeMicroJoulesPerToken: MicroJoules;
  /** Decode step: every running request of the model emits one token per step (continuous batching). */
  readonly interTokenMs: number;
  /**
   * This model's prefill throughput, prompt tokens per second (default: the engine's). A larger
   * model prefills more slowly: its prefill power (rate × cost per token) stays within the GPU's.
   */
  readonly prefillTokensPerSecond?: number;
}

/**
 * How prompts are prefilled. `parallel`: every request prefills from its arrival at the full rate,
 * alone (what the attributor assumes: prefill spread over [arrival, first token]). `fifo`: one
 * prompt at a time in arrival order, as an engine with a prefill token budget does; a prompt
 * arriving in a burst waits in the queue doing no work, then prefills, so its real prefill window
 * is only the tail of [arrival, first token]. Either way a prompt's prefill occupies the engine up
 * to the decode step that emits its first token.
 */
export type PrefillScheduling = 'parallel' | 'fifo';

/** Options of {@link SimulatedEngine}. */
export interface SimulatedEngineOptions {
  /** Models served by the engine (one GPU, several models possible), by `model` name. */
  readonly models: Readonly<Record<string, SimulatedModel>>;
  /** Prefill throughput, prompt tokens per second. */
  readonly prefillTokensPerSecond: number;
  readonly prefillScheduling: PrefillScheduling;
  /**
   * Host-side delay between a token's GPU work and its chunk on the wire (sampling,
   * detokenization, HTTP write); the proxy sees the token this much later. Default 0.
   */
  readonly emitLatencyMs?: number;
}

/** One generation: the prompt size, how many tokens to emit, and where each token goes. */
export interface Generation {
  readonly requestId: string;
  readonly model: string;
  readonly promptTokens: number;
  /** At least 1. */
  readonly outputTokens: number;
  /** Called when a token's chunk is due on the wire (1-based `index`); `last` on the final one. */
  readonly onToken: (index: number, last: boolean) => void;
}

/** A generation in the engine. */
interface Active {
  readonly job: Generation;
  /** The decode step that emits its first token (end of its prefill). */
  readonly readyAt: MonoNanos;
  emitted: number;
  cancelled: boolean;
}

/** One model's continuous batch: its running generations and its next scheduled step. */
interface Batch {
  readonly model: SimulatedModel;
  readonly stepNanos: bigint;
  readonly running: Set<Active>;
  stepAt: MonoNanos | null;
  cancelStep: () => void;
}

/**
 * The simulated inference engine, on a {@link Scheduler}'s time. Each model runs a continuous
 * batch: every `interTokenMs` step, each of its generations whose prefill is done emits one token.
 * Every piece of work is recorded in the {@link TruthLedger} when it happens: the prefill window
 * when a request arrives, each decode token at its step. The chunk goes out `emitLatencyMs` later.
 */
export class SimulatedEngine {
  private readonly options: SimulatedEngineOptions;
  private readonly ledger: TruthLedger;
  private readonly clock: Clock;
  private readonly scheduler: Scheduler;
  private readonly latencyNanos: bigint;
  private readonly batches = new Map<string, Batch>();
  /** End of the last planned prefill (`fifo` scheduling). */
  private prefillFreeAt: MonoNanos = 0n;

  constructor(options: SimulatedEngineOptions, ledger: TruthLedger, clock: Clock, scheduler: Scheduler) {
    if (!(options.prefillTokensPerSecond > 0)) throw new RangeError('prefillTokensPerSecond must be > 0');
    this.options = options;
    this.ledger = ledger;
    this.clock = clock;
    this.scheduler = scheduler;
    this.latencyNanos = nanos(options.emitLatencyMs ?? 0);
    for (const [name, model] of Object.entries(options.models)) {
      const stepNanos = nanos(model.interTokenMs);
      if (stepNanos <= 0n) throw new RangeError(`interTokenMs of ${name} must be > 0`);
      this.batches.set(name, { model, stepNanos, running: new Set(), stepAt: null, cancelStep: () => {} });
    }
  }

  /** Whether the engine serves `model`. */
  serves(model: string): boolean {
    return this.batches.has(model);
  }

  /** Starts a generation now; returns a function that cancels what is not emitted yet. */
  generate(job: Generation): () => void {
    const batch = this.batches.get(job.model);
    if (batch === undefined) throw new RangeError(`model ${job.model} is not served`);
    const active: Active = { job, readyAt: this.planPrefill(job, batch), emitted: 0, cancelled: false };
    batch.running.add(active);
    if (batch.stepAt === null || active.readyAt < batch.stepAt) this.scheduleStep(batch, active.readyAt);
    return () => {
      active.cancelled = true;
      batch.running.delete(active);
    };
  }

  /** Reserves the request's prefill window and records its work; returns its first decode step. */
  private planPrefill(job: Generation, batch: Batch): MonoNanos {
    const now = this.clock.monoNanos();
    const perModel = batch.model.prefillTokensPerSecond ?? this.options.prefillTokensPerSecond;
    const rate = BigInt(Math.max(1, Math.round(perModel)));
    const fifo = this.options.prefillScheduling === 'fifo';
    const from = fifo && this.prefillFreeAt > now ? this.prefillFreeAt : now;
    const computed = from + (BigInt(job.promptTokens) * NANOS_PER_SECOND) / rate;
    // The first step strictly after the prefill starts and not before it is computed.
    const origin = this.ledger.origin;
    const steps = (computed - origin + batch.stepNanos - 1n) / batch.stepNanos;
    let readyAt = origin + steps * batch.stepNanos;
    if (readyAt <= from) readyAt += batch.stepNanos;
    if (fifo) this.prefillFreeAt = readyAt;
    const work = BigInt(job.promptTokens) * batch.model.prefillMicroJoulesPerToken;
    this.ledger.addPrefill(job.requestId, from, readyAt, work);
    return readyAt;
  }

  private scheduleStep(batch: Batch, t: MonoNanos): void {
    batch.cancelStep();
    batch.stepAt = t;
    batch.cancelStep = this.scheduler.at(t, () => this.step(batch, t));
  }

  /** One decode step: a token for every generation whose prefill is done. */
  private step(batch: Batch, t: MonoNanos): void {
    batch.stepAt = null;
    for (const active of batch.running) {
      if (active.readyAt > t) continue;
      this.ledger.addDecodeToken(active.job.requestId, t, batch.model.decodeMicroJoulesPerToken);
      active.emitted += 1;
      const index = active.emitted;
      const last = index >= active.job.outputTokens;
      if (last) batch.running.delete(active);
      this.scheduler.at(t + this.latencyNanos, () => {
        if (!active.cancelled) active.job.onToken(index, last);
      });
    }
    if (batch.running.size > 0) this.scheduleStep(batch, t + batch.stepNanos);
  }
}

function nanos(ms: number): bigint {
  return BigInt(Math.round(ms * 1e6));
}
