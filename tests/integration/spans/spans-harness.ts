/**
 * The real span receiver on 127.0.0.1:0 feeding a real attributor (a manual clock, two engines of
 * one GPU each), with what came out: request events, allocations and records.
 */
import { Attributor } from '../../../src/attribution/attributor.js';
import type { IntervalAllocation, RequestEnergyRecord } from '../../../src/attribution/types.js';
import type { RequestEvent } from '../../../src/requests/types.js';
import { createEngineResolver } from '../../../src/spans/engines.js';
import { SpanIntake } from '../../../src/spans/intake.js';
import { SpanJoinIndex } from '../../../src/spans/join.js';
import { createSpanServer, type SpanServer } from '../../../src/spans/server.js';
import { interval } from '../../helpers/device-interval.js';
import { ManualClock } from '../../helpers/manual-clock.js';

export const S = 1_000_000_000n;
export const MS = 1_000_000n;
export const ENGINES = [
  { engineId: 'vllm-a', deviceIds: ['gpu0'], models: ['meta-llama/Llama-3.1-8B-Instruct'] },
  { engineId: 'sglang-b', deviceIds: ['gpu1'], models: ['Qwen/Qwen2.5-7B-Instruct'] },
];

export interface SpanHarness {
  readonly server: SpanServer;
  readonly clock: ManualClock;
  readonly attributor: Attributor;
  readonly intake: SpanIntake;
  readonly join: SpanJoinIndex;
  /** Events the attributor received, in order. */
  readonly events: RequestEvent[];
  readonly allocations: IntervalAllocation[];
  readonly records: RequestEnergyRecord[];
  /** Every event of any source goes through here (as the daemon's pipeline does). */
  onEvent(event: RequestEvent): void;
  /** Feeds one interval of `energy` µJ on every GPU, `(t0, t1]` on the monotonic clock. */
  tick(t0: bigint, t1: bigint, energy: bigint): void;
  close(): Promise<void>;
}

export async function startSpanHarness(
  o: {
    tokens?: string[];
    maxBodyBytes?: number;
    maxSpansPerExport?: number;
    engineByService?: Record<string, string>;
    limits?: import('../../../src/api/http-limits.js').ListenerLimits;
  } = {},
): Promise<SpanHarness> {
  const clock = new ManualClock();
  const events: RequestEvent[] = [];
  const allocations: IntervalAllocation[] = [];
  const records: RequestEnergyRecord[] = [];
  const attributor = new Attributor({
    engines: ENGINES,
    hostDeviceIds: [],
    idlePowerMilliWatts: new Map([
      ['gpu0', 50_000],
      ['gpu1', 50_000],
    ]),
    onAllocation: (a) => allocations.push(a),
    onRecord: (r) => records.push(r),
  });
  const sink = (event: RequestEvent) => {
    events.push(event);
    attributor.onEvent(event);
  };
  const join = new SpanJoinIndex();
  const intake = new SpanIntake({
    sink,
    tracker: attributor.tracker,
    clock,
    resolveEngine: createEngineResolver({ engines: ENGINES, engineByService: o.engineByService ?? {} }),
    join,
  });
  const server = await createSpanServer({
    intake,
    listen: { host: '127.0.0.1', port: 0 },
    maxBodyBytes: o.maxBodyBytes ?? 1024 * 1024,
    maxSpansPerExport: o.maxSpansPerExport ?? 1000,
    tokens: o.tokens ?? [],
    ...(o.limits ? { limits: o.limits } : {}),
  });
  return {
    server,
    clock,
    attributor,
    intake,
    join,
    events,
    allocations,
    records,
    onEvent: (event) => {
      join.observe(event);
      sink(event);
    },
    tick: (t0, t1, energy) => {
      for (const engine of ENGINES)
        for (const deviceId of engine.deviceIds) attributor.onInterval(interval(deviceId, t0, t1, energy));
    },
    close: () => server.close(),
  };
}

/**
 * Checks that energy is conserved exactly: each allocation's request shares, idle and unattributed
 * parts add up to its measured energy, and the records' energies add up to the shares. Returns the
 * measured total and the records' total.
 */
export function conservation(
  allocations: readonly IntervalAllocation[],
  records: readonly RequestEnergyRecord[],
): { measured: bigint; shares: bigint; recorded: bigint } {
  let measured = 0n;
  let shares = 0n;
  for (const a of allocations) {
    const sum = a.shares.reduce((n, s) => n + s.microJoules, 0n);
    if (sum !== a.requestsMicroJoules) throw new Error(`Σ shares ≠ requests on ${a.deviceId}`);
    if (sum + a.idleMicroJoules + a.unattributedMicroJoules !== a.energyMicroJoules)
      throw new Error(`energy not conserved on ${a.deviceId} at ${a.intervalEndMonoNanos}`);
    measured += a.energyMicroJoules;
    shares += sum;
  }
  let recorded = 0n;
  for (const r of records) recorded += BigInt(r.activeEnergyMicroJoules) + BigInt(r.hostEnergyMicroJoules);
  return { measured, shares, recorded };
}
