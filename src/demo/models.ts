import type { SimulatedModel } from '../harness/engine.js';

/**
 * The demo's simulated inference node: 8 GPUs serving four models of different sizes, each on
 * its own engine (tensor parallel across several GPUs where a model needs it). These are the
 * simulation's parameters, the "physics" of the pretend node: the power each engine draws is
 * `idle + a × prefill rate + b × decode rate` on its GPUs. The figures the demo shows are what
 * the real meter, proxy, attributor and ledger make of that power; nothing is tuned to them.
 */
export interface DemoEngine {
  /** Engine id in the configuration and in every record. */
  readonly id: string;
  /** The one model it serves, and how it costs. */
  readonly model: string;
  readonly cost: SimulatedModel;
  /** Prompt tokens per second of its prefill (one prompt at a time). */
  readonly prefillTokensPerSecond: number;
  /** Indexes of its GPUs on the node (0–7). */
  readonly gpuIndexes: readonly number[];
  /** Most requests it runs at once; the load generator queues the rest, as a router would. */
  readonly maxInFlight: number;
  /** Share of the demo's traffic, in percent. */
  readonly trafficPercent: number;
}

/** Per-GPU figures of the simulated node (an H100 SXM's power limit and a typical idle draw). */
export const DEMO_GPU = {
  name: 'Simulated NVIDIA H100 80GB HBM3',
  idleMilliWatts: 70_000,
  powerLimitMilliWatts: 700_000,
} as const;

/** Number of GPUs of the simulated node. */
export const DEMO_GPU_COUNT = 8;

/**
 * The four engines. Costs are per token on the whole engine (µJ); worst case (every slot
 * decoding while a prompt prefills) stays under the GPUs' power limit: for the 70B engine
 * 12 × (1000/35) tok/s × 3 J + 4000 tok/s × 0.2 J ≈ 1.8 kW over 4 GPUs, ≈ 450 W + 70 W idle each.
 */
export const DEMO_ENGINES: readonly DemoEngine[] = [
  {
    id: 'tp4-llama-70b',
    model: 'llama-3.1-70b-instruct',
    cost: { prefillMicroJoulesPerToken: 200_000n, decodeMicroJoulesPerToken: 3_000_000n, interTokenMs: 35 },
    prefillTokensPerSecond: 4000,
    gpuIndexes: [0, 1, 2, 3],
    maxInFlight: 12,
    trafficPercent: 20,
  },
  {
    id: 'tp2-qwen-32b',
    model: 'qwen2.5-32b-instruct',
    cost: { prefillMicroJoulesPerToken: 80_000n, decodeMicroJoulesPerToken: 1_200_000n, interTokenMs: 25 },
    prefillTokensPerSecond: 6000,
    gpuIndexes: [4, 5],
    maxInFlight: 12,
    trafficPercent: 20,
  },
  {
    id: 'gpu6-llama-8b',
    model: 'llama-3.1-8b-instruct',
    cost: { prefillMicroJoulesPerToken: 20_000n, decodeMicroJoulesPerToken: 350_000n, interTokenMs: 12 },
    prefillTokensPerSecond: 12000,
    gpuIndexes: [6],
    maxInFlight: 8,
    trafficPercent: 35,
  },
  {
    id: 'gpu7-qwen-1.5b',
    model: 'qwen2.5-1.5b-instruct',
    cost: { prefillMicroJoulesPerToken: 5_000n, decodeMicroJoulesPerToken: 80_000n, interTokenMs: 8 },
    prefillTokensPerSecond: 30000,
    gpuIndexes: [7],
    maxInFlight: 16,
    trafficPercent: 25,
  },
];

/** The simulated GPU's UUID at node index `index`, in NVML's `GPU-…` form, marked by its prefix. */
export function demoGpuId(index: number): string {
  return `GPU-de300000-0000-4000-8000-${(index + 1).toString(16).padStart(12, '0')}`;
}
