import type { IdleBaselineUse } from '../attribution/types.js';
import type { MicroJoules, MonoNanos } from '../units.js';
import { LoadClient, type LoadOutcome } from './load.js';
import { type Pipeline, startPipeline } from './pipeline.js';
import { type ConservationCheck, type ErrorStats, errorStats } from './report.js';
import type { Scenario } from './scenarios.js';

/** How long and how finely to run a scenario. */
export interface AccuracyRunOptions {
  /** Virtual length of the load; requests keep finishing for a few (virtual) seconds after. */
  readonly durationMs: number;
  /** Meter sampling interval (default 100 ms: the daemon's default `meter.gpuIntervalMs`). */
  readonly meterIntervalMs?: number;
  /** Seed of the scenario's load (default 1). */
  readonly seed?: number;
  /** Longest real time to wait for the I/O of one virtual instant (default 10 s). */
  readonly settleTimeoutMs?: number;
}

/** One request's record against its truth. */
export interface RequestComparison {
  readonly requestId: string;
  readonly model: string | null;
  readonly inputTokens: number | null;
  readonly outputTokens: number | null;
  readonly attributedMicroJoules: MicroJoules;
  readonly trueMicroJoules: MicroJoules;
}

/** The outcome of one scenario run. */
export interface AccuracyReport {
  readonly scenario: string;
  readonly load: LoadOutcome;
  readonly errors: ErrorStats;
  /** Requests sent that got no record, plus records with no truth. */
  readonly unmatched: number;
  /** Records the attributor itself marked `estimated`. */
  readonly estimatedRecords: number;
  readonly conservation: ConservationCheck;
  /** The idle baseline the run ended with (its provenance says whether it was learned). */
  readonly idleBaseline: IdleBaselineUse | null;
  /**
   * Measured − true energy over the metered window: the counter's mJ resolution with an energy
   * counter, the sensor's lag when the meter integrates an averaged power.
   */
  readonly measuredMinusTrueMicroJoules: MicroJoules;
  readonly requests: readonly RequestComparison[];
}

/**
 * Runs one scenario end to end over real loopback HTTP: simulated node → real `Meter`, real
 * measuring proxy → real `Attributor`; then compares each request's record with its truth.
 * Time is virtual: the harness moves the clock from one scheduled instant to the next (arrivals,
 * decode steps, chunk writes, meter ticks) and, at each, waits until the proxy has seen all the
 * server wrote. Runs are deterministic in their inputs and unaffected by host load.
 */
export async function runScenario(scenario: Scenario, options: AccuracyRunOptions): Promise<AccuracyReport> {
  const intervalNanos = BigInt(Math.round((options.meterIntervalMs ?? 100) * 1e6));
  const pipeline = await startPipeline(scenario, Number(intervalNanos / 1_000_000n));
  try {
    const client = new LoadClient(pipeline.proxyUrl);
    const origin = pipeline.clock.monoNanos();
    for (const arrival of scenario.arrivals(options.durationMs, options.seed ?? 1)) {
      const at = origin + BigInt(Math.round(arrival.atMs * 1e6));
      pipeline.scheduler.at(at, () => client.send(arrival));
    }
    await pipeline.meter.tickAll(); // the baseline reading
    await runToIdle(pipeline, client, intervalNanos, options.settleTimeoutMs ?? 10_000);
    const load = await client.outcome();
    pipeline.attributor.flush();
    return compare(scenario.name, pipeline, load);
  } finally {
    await pipeline.close();
  }
}

/**
 * Moves virtual time through every scheduled instant, settling the I/O of each, with a meter
 * tick every interval; stops at the first tick after nothing is left to run.
 */
async function runToIdle(
  p: Pipeline,
  client: LoadClient,
  interval: bigint,
  timeoutMs: number,
): Promise<void> {
  let nextTick: MonoNanos = p.clock.monoNanos() + interval;
  for (;;) {
    const next = p.scheduler.nextTime();
    if (next !== null && next <= nextTick) {
      p.clock.set(next);
      p.scheduler.runDue(next);
      await settle(p, client, timeoutMs);
      continue;
    }
    // Ticks run after the instant's events: a token emitted at the tick is in the reading.
    p.clock.set(nextTick);
    await p.meter.tickAll();
    if (next === null) return;
    nextTick += interval;
  }
}

/** Waits until the proxy has reported every request, chunk and end the server handled. */
async function settle(p: Pipeline, client: LoadClient, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  const activity = p.node.activity;
  const settled = () =>
    p.seen.start === client.sent &&
    activity.received === client.sent &&
    p.seen.progress === activity.chunks &&
    p.seen.end === activity.ended;
  while (!settled()) {
    if (performance.now() > deadline) {
      const state = JSON.stringify({ sent: client.sent, seen: p.seen, server: activity });
      throw new Error(`accuracy harness: I/O did not settle within ${timeoutMs} ms: ${state}`);
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Pairs every record with the node's truth and computes the statistics. */
function compare(name: string, p: Pipeline, load: LoadOutcome): AccuracyReport {
  const requests: RequestComparison[] = [];
  let unmatched = 0;
  for (const record of p.collector.records) {
    const truth = p.node.trueActive(record.requestId);
    if (truth === undefined) {
      unmatched += 1;
      continue;
    }
    const { requestId, model, inputTokens, outputTokens } = record;
    const attributedMicroJoules = BigInt(record.activeEnergyMicroJoules);
    requests.push({
      requestId,
      model,
      inputTokens,
      outputTokens,
      attributedMicroJoules,
      trueMicroJoules: truth,
    });
  }
  unmatched += Math.max(0, load.sent - requests.length);
  const window = p.collector.window();
  const ledger = p.node.ledger;
  const trueWindow = window ? ledger.energyAt(window.to) - ledger.energyAt(window.from) : 0n;
  const conservation = p.collector.conservation();
  return {
    scenario: name,
    load,
    errors: errorStats(requests.map((r) => [r.attributedMicroJoules, r.trueMicroJoules] as const)),
    unmatched,
    estimatedRecords: p.collector.records.filter((record) => record.estimated).length,
    conservation,
    idleBaseline: p.collector.lastIdleBaseline,
    measuredMinusTrueMicroJoules: conservation.measuredMicroJoules - trueWindow,
    requests,
  };
}
