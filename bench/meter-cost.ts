import { type ChildProcess, spawn } from 'node:child_process';
import { fakeNvidiaSmi } from '../tests/helpers/fake-nvidia-smi.js';
import { buildFakeNvml, FakeNvmlState } from '../tests/helpers/fake-nvml.js';
import { FakeSysfs } from '../tests/helpers/fake-sysfs.js';
import { fakeNvmlDaemonArgs, fakeNvmlDaemonEnv, MAIN } from './lib/fake-nvml-daemon.js';
import { readUsage } from './lib/proc.js';
import type { BenchResult } from './lib/report.js';

const WARMUP_MS = 3000;
const GPU_COUNT = 8;

interface Measured {
  readonly cpuPercentOfOneCore: number;
  readonly peakRssMiB: number;
}

/** Spawns a process, lets it warm up, measures its own CPU time (not children's) over `seconds`. */
async function measure(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  seconds: number,
  during?: () => Promise<void>,
): Promise<Measured> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  try {
    await sleep(WARMUP_MS);
    assertAlive(child, stderr);
    const before = readUsage(child.pid as number);
    const t0 = performance.now();
    const ticker = during ? setInterval(() => void during(), 1000) : null;
    await sleep(seconds * 1000);
    if (ticker) clearInterval(ticker);
    assertAlive(child, stderr);
    const after = readUsage(child.pid as number);
    const wallSeconds = (performance.now() - t0) / 1000;
    return {
      cpuPercentOfOneCore: ((after.cpuSeconds - before.cpuSeconds) / wallSeconds) * 100,
      peakRssMiB: after.peakRssBytes / 1048576,
    };
  } finally {
    // An exited child never emits 'exit' again: waiting for it would end the benchmark silently.
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }
}

function assertAlive(child: ChildProcess, stderr: string): void {
  if (child.exitCode !== null) throw new Error(`benchmark process exited with ${child.exitCode}: ${stderr}`);
}

/** The daemon sampling 8 fake-NVML GPUs at 10 Hz plus a fake 2-socket RAPL tree at 1 Hz. */
async function nvmlScenario(seconds: number): Promise<Measured> {
  const library = await buildFakeNvml();
  const state = await FakeNvmlState.create(GPU_COUNT);
  const sysfs = await FakeSysfs.twoSocketServer();
  let milliJoules = 1_000_000n;
  try {
    const args = fakeNvmlDaemonArgs(library, sysfs.root, [
      // The sampling cost alone: sealing and signing batches is not what this scenario measures.
      '--no-ledger',
    ]);
    const env = fakeNvmlDaemonEnv(state.dir);
    return await measure(args, env, seconds, async () => {
      milliJoules += 400_000n; // ~400 W per GPU
      for (let i = 0; i < GPU_COUNT; i++) await state.setEnergyMilliJoules(i, milliJoules + BigInt(i));
    });
  } finally {
    await state.cleanup();
    await sysfs.cleanup();
  }
}

/** The daemon reading 8 GPUs from a long-lived fake nvidia-smi at 100 ms plus RAPL. */
async function smiScenario(seconds: number): Promise<Measured> {
  const smi = await fakeNvidiaSmi({
    recordings: ['h200', 'h100', 'l40s', 'h100-mig', 'h200', 'h100', 'l40s', 'h200'],
    loop: true,
  });
  const sysfs = await FakeSysfs.twoSocketServer();
  try {
    const args = [
      MAIN,
      'run',
      '--gpu-probe',
      'nvidia-smi',
      '--nvidia-smi',
      smi.nvidiaSmiPath,
      '--sysfs-root',
      sysfs.root,
      '--rapl',
      'on',
      '--log-level',
      'warn',
      // The sampling cost alone: sealing and signing batches is not what this scenario measures.
      '--no-ledger',
    ];
    return await measure(args, { ...process.env, ...smi.env }, seconds);
  } finally {
    await smi.cleanup();
    await sysfs.cleanup();
  }
}

/** The floor: an idle Node.js process with one timer, measured the same way in the same run. */
async function baselineScenario(seconds: number): Promise<Measured> {
  return measure(['-e', 'setInterval(() => {}, 1000)'], process.env, seconds);
}

/** Runs the sampling-cost scenarios and returns their figures. */
export async function benchMeterCost(seconds: number, log: (line: string) => void): Promise<BenchResult[]> {
  log(`meter cost: baseline idle node for ${seconds} s`);
  const baseline = await baselineScenario(seconds);
  log(`meter cost: daemon, 8 GPUs via fake NVML at 10 Hz + RAPL at 1 Hz, for ${seconds} s`);
  const nvml = await nvmlScenario(seconds);
  log(`meter cost: daemon, 8 GPUs via fake nvidia-smi -lms 100 + RAPL, for ${seconds} s`);
  const smi = await smiScenario(seconds);
  const results: BenchResult[] = [
    { scenario: 'idle-node', metric: 'cpu', value: baseline.cpuPercentOfOneCore, unit: '% core' },
    { scenario: 'idle-node', metric: 'peak-rss', value: baseline.peakRssMiB, unit: 'MiB' },
    {
      scenario: 'daemon-nvml-8gpu',
      metric: 'cpu',
      value: nvml.cpuPercentOfOneCore,
      unit: '% core',
      goal: '< 0.5',
      pass: nvml.cpuPercentOfOneCore < 0.5,
      note: 'fake libnvidia-ml in FAKE_NVML_FAST mode (no trace/delay/fault files); it still reads its value files on every call, so this is an upper bound',
    },
    {
      scenario: 'daemon-nvml-8gpu',
      metric: 'peak-rss',
      value: nvml.peakRssMiB,
      unit: 'MiB',
      goal: '< 80',
      pass: nvml.peakRssMiB < 80,
    },
    {
      scenario: 'daemon-nvml-8gpu',
      metric: 'cpu-vs-idle-node',
      value: nvml.cpuPercentOfOneCore / Math.max(baseline.cpuPercentOfOneCore, 0.001),
      unit: 'x',
    },
    {
      scenario: 'daemon-smi-8gpu',
      metric: 'cpu',
      value: smi.cpuPercentOfOneCore,
      unit: '% core',
      note: 'the daemon only; the fake nvidia-smi child (a Node script) is not counted',
    },
    { scenario: 'daemon-smi-8gpu', metric: 'peak-rss', value: smi.peakRssMiB, unit: 'MiB' },
  ];
  return results;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
