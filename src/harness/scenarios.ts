import type { SimulatedModel, SimulatedNodeOptions } from './simulated-node.js';

/** One request of a scenario's load: when it is sent, to which model, and its size. */
export interface Arrival {
  /** Milliseconds after the load starts. */
  readonly atMs: number;
  readonly model: string;
  readonly promptTokens: number;
  readonly outputTokens: number;
}

/** The scenarios of the accuracy harness. */
export type ScenarioName =
  | 'matched'
  | 'bursty-prefill'
  | 'mismatched-costs'
  | 'mixed-models'
  | 'no-usage-streaming'
  | 'power-average-1s'
  | 'low-load-learned-idle';

/** A simulated node, the attributor's weights, and a load. */
export interface Scenario {
  readonly name: ScenarioName;
  readonly description: string;
  readonly node: Omit<SimulatedNodeOptions, 'clock' | 'scheduler' | 'deviceId'>;
  /** The attributor's a and b (integers). */
  readonly prefillWeight: number;
  readonly decodeWeight: number;
  /** The attributor's cost model (`configured` a:b, or `fitted` online with a:b as the prior). */
  readonly costModel?: 'configured' | 'fitted';
  /** The load for a run of `durationMs`, from a seeded generator (same seed, same load). */
  readonly arrivals: (durationMs: number, seed: number) => Arrival[];
  /** The goal on the mean per-request error, where the scenario has one. */
  readonly goalMeanErrorPercent?: number;
  /**
   * The attributor's idle baseline: absent, the node's true idle power, configured; else a learned
   * one (`LearnedIdleBaseline`) that falls back to `configuredMilliWatts` until it has learned.
   */
  readonly learnedIdle?: {
    readonly configuredMilliWatts: number;
    readonly settleMs: number;
    readonly windowMs: number;
    readonly minMs: number;
  };
}

/** An 8B-class model whose costs follow the attributor's default a:b = 1:4 (20 and 80 mJ/token). */
const SMALL: SimulatedModel = {
  prefillMicroJoulesPerToken: 20_000n,
  decodeMicroJoulesPerToken: 80_000n,
  interTokenMs: 20,
};
/**
 * A larger model on the same GPU: 4× the cost per token, slower decode, and a quarter of the prefill
 * throughput, so that a prompt's prefill draws the same 400 W as the small model's (80 mJ × 5k tok/s)
 * and the GPU stays within its 700 W limit: at 20k tok/s it would draw 1.6 kW, which no GPU can and
 * which the attributor's physical bound rightly refuses to give one request.
 */
const LARGE: SimulatedModel = {
  prefillMicroJoulesPerToken: 80_000n,
  decodeMicroJoulesPerToken: 320_000n,
  interTokenMs: 35,
  prefillTokensPerSecond: 5_000,
};

const BASE_NODE = {
  models: { 'sim-8b': SMALL },
  prefillTokensPerSecond: 20_000,
  prefillScheduling: 'parallel',
  emitLatencyMs: 1,
  idleMilliWatts: 100_000,
  powerLimitMilliWatts: 700_000,
  reportUsage: true,
  sensor: 'energy-counter',
} as const satisfies Scenario['node'];

/** Every scenario, in report order. */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'matched',
    description: 'simulator costs a:b = attributor 1:4, steady arrivals, usage reported, energy counter',
    node: BASE_NODE,
    prefillWeight: 1,
    decodeWeight: 4,
    arrivals: (ms, seed) => steady(ms, seed, 100, ['sim-8b']),
    goalMeanErrorPercent: 2,
  },
  {
    name: 'bursty-prefill',
    description: 'bursts of 5 long prompts (2k–6k tokens) every 3 s queue in a FIFO prefill (20k tok/s)',
    node: { ...BASE_NODE, prefillScheduling: 'fifo' },
    prefillWeight: 1,
    decodeWeight: 4,
    arrivals: bursty,
  },
  {
    name: 'mismatched-costs',
    description: 'simulator a:b = 40:40 mJ/token (1:1), attributor 1:4',
    node: {
      ...BASE_NODE,
      models: {
        'sim-8b': { ...SMALL, prefillMicroJoulesPerToken: 40_000n, decodeMicroJoulesPerToken: 40_000n },
      },
    },
    prefillWeight: 1,
    decodeWeight: 4,
    arrivals: (ms, seed) => steady(ms, seed, 100, ['sim-8b']),
  },
  {
    name: 'mixed-models',
    description: 'two models on one GPU, the second 4× the cost per token; one a:b for both',
    node: { ...BASE_NODE, models: { 'sim-8b': SMALL, 'sim-70b': LARGE } },
    prefillWeight: 1,
    decodeWeight: 4,
    arrivals: (ms, seed) => steady(ms, seed, 100, ['sim-8b', 'sim-70b']),
  },
  {
    name: 'no-usage-streaming',
    description: 'matched, but the server never reports usage: prompt size unknown, decode from chunks',
    node: { ...BASE_NODE, reportUsage: false },
    prefillWeight: 1,
    decodeWeight: 4,
    arrivals: (ms, seed) => steady(ms, seed, 100, ['sim-8b']),
  },
  {
    name: 'power-average-1s',
    description: 'matched, but no energy counter: the meter integrates the 1 s average power reading',
    node: { ...BASE_NODE, sensor: 'power-average-1s' },
    prefillWeight: 1,
    decodeWeight: 4,
    arrivals: (ms, seed) => steady(ms, seed, 100, ['sim-8b']),
  },
  {
    name: 'low-load-learned-idle',
    description:
      'one request every 8 s; the attributor learns the idle power (configured 60 W is wrong, true 100 W)',
    node: BASE_NODE,
    prefillWeight: 1,
    decodeWeight: 4,
    arrivals: (ms, seed) => steady(ms, seed, 8_000, ['sim-8b']),
    learnedIdle: { configuredMilliWatts: 60_000, settleMs: 1_000, windowMs: 30_000, minMs: 5_000 },
  },
];

/** The scenario called `name`; throws for an unknown name. */
export function scenario(name: ScenarioName): Scenario {
  const found = SCENARIOS.find((s) => s.name === name);
  if (found === undefined) throw new RangeError(`unknown scenario ${name}`);
  return found;
}

/**
 * One request per `periodMs` (at a random point of its first half): prompts of 100–2000 tokens,
 * 20–200 output tokens, models at random.
 */
function steady(durationMs: number, seed: number, periodMs: number, models: readonly string[]): Arrival[] {
  const random = mulberry32(seed);
  const arrivals: Arrival[] = [];
  for (let slot = 0; slot < durationMs; slot += periodMs) {
    arrivals.push({
      atMs: slot + (random() * periodMs) / 2,
      model: models[Math.floor(random() * models.length)] as string,
      promptTokens: between(random, 100, 2000),
      outputTokens: between(random, 20, 200),
    });
  }
  return arrivals;
}

/** A background of short requests every 250 ms, and every 3 s a burst of 5 long prompts at once. */
function bursty(durationMs: number, seed: number): Arrival[] {
  const random = mulberry32(seed);
  const arrivals: Arrival[] = [];
  for (let slot = 0; slot < durationMs; slot += 250) {
    const atMs = slot + random() * 125;
    const outputTokens = between(random, 20, 200);
    arrivals.push({ atMs, model: 'sim-8b', promptTokens: between(random, 100, 1000), outputTokens });
  }
  for (let atMs = 500; atMs < durationMs; atMs += 3000) {
    for (let i = 0; i < 5; i++) {
      const promptTokens = between(random, 2000, 6000);
      arrivals.push({ atMs, model: 'sim-8b', promptTokens, outputTokens: between(random, 20, 100) });
    }
  }
  return arrivals.sort((x, y) => x.atMs - y.atMs);
}

function between(random: () => number, low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

/** A small seeded PRNG (mulberry32): the same seed gives the same load on every platform. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
