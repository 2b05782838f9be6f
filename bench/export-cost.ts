import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodePrivateKeyFromSeed, nodeSigner } from '../src/attest/ed25519-node.js';
import { configSchema } from '../src/config/schema.js';
import { START_POSITION } from '../src/export/export-cursor.js';
import { readPendingChunk } from '../src/export/ledger-source.js';
import { OtlpLedgerLogs } from '../src/export/otlp-logs.js';
import { buildOtlpResource } from '../src/export/resource.js';
import { VERSION } from '../src/version.js';
import { buildFakeNvml, FakeNvmlState } from '../tests/helpers/fake-nvml.js';
import { FakeSysfs } from '../tests/helpers/fake-sysfs.js';
import { OtlpReceiver } from '../tests/helpers/otlp-receiver.js';
import { threadCpuSeconds } from './lib/cpu-time.js';
import { DAY_BATCH_INTERVAL_MS, DAY_BATCHES, writeDayLedger } from './lib/day-ledger.js';
import { fakeNvmlDaemonArgs, fakeNvmlDaemonEnv, MAIN } from './lib/fake-nvml-daemon.js';
import { readUsage } from './lib/proc.js';
import { type BenchResult, REPO_ROOT } from './lib/report.js';

/**
 * The `export` group.
 *
 * (a) What OTLP export costs the daemon: two daemons run side by side in the same window, both on
 * the fake NVML (8 GPUs at 10 Hz, as the `meter` group) plus fake RAPL, both sealing 1-s batches
 * into their own ledger; one also exports metrics (every 1 s, `OTEL_METRIC_EXPORT_INTERVAL`) and
 * every batch and checkpoint as logs (on each seal) over OTLP/HTTP protobuf to a loopback receiver.
 * Both intervals are far shorter than the defaults (60 s metrics, 10 s batches), so the difference
 * is an upper bound on export's cost. CPU is each daemon's own (schedstat), over `--seconds`.
 *
 * (b) Re-export after an outage: a ledger of a day of 10-s batches (8,640, the default interval;
 * 86,400 1-s lines would be ~0.7 GB to generate, more than this group's time allows) written by a
 * real Batcher on 8 simulated GPUs, then `OtlpLedgerLogs` with an empty cursor and the default
 * settings (100 records and ≤ 4 MiB per request) against the receiver in a child process: the time
 * until the receiver has every batch, and the exporter process's CPU time meanwhile.
 */

const SINK = join(REPO_ROOT, 'dist', 'bench', 'lib', 'otlp-sink.js');
const GPU_COUNT = 8;
const WARMUP_MS = 4000;
const EXPORT_INTERVAL_MS = 1000;
const SEED = Uint8Array.from({ length: 32 }, (_, i) => (i * 11 + 5) % 256);

type Log = (line: string) => void;

export async function benchExportCost(seconds: number, log: Log): Promise<BenchResult[]> {
  // The exporters read OTEL_* from the environment; the bench's own settings must win.
  for (const name of Object.keys(process.env)) if (name.startsWith('OTEL_')) delete process.env[name];
  const started = performance.now();
  const results = [...(await daemonCost(seconds, log)), ...(await reExportDay(log))];
  log(`export: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return results;
}

// ---------------------------------------------------------------------------------------------
// (a) Export on versus off, same run.

interface Measured {
  readonly cpuPercentOfOneCore: number;
  readonly peakRssMiB: number;
}

async function daemonCost(seconds: number, log: Log): Promise<BenchResult[]> {
  const work = await mkdtemp(join(tmpdir(), 'wattledger-bench-export-'));
  const library = await buildFakeNvml();
  const state = await FakeNvmlState.create(GPU_COUNT);
  const sysfs = await FakeSysfs.twoSocketServer();
  const receiver = await OtlpReceiver.start();
  const children: ChildProcess[] = [];
  try {
    const key = join(work, 'bench.key');
    execFileSync(process.execPath, [MAIN, 'keygen', '--out', key, '--name', 'wattledger/bench-export'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const args = (ledger: string) =>
      fakeNvmlDaemonArgs(library, sysfs.root, [
        '--ledger-dir',
        join(work, ledger),
        '--signing-key',
        key,
        '--batch-interval-ms',
        String(EXPORT_INTERVAL_MS),
        '--no-api',
      ]);
    const env = fakeNvmlDaemonEnv(state.dir);
    const exportEnv = {
      ...env,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_METRIC_EXPORT_INTERVAL: String(EXPORT_INTERVAL_MS),
    };
    log(`export cost: two daemons (export off / OTLP on), 8 GPUs via fake NVML, for ${seconds} s`);
    const off = spawnDaemon(args('ledger-off'), env);
    const on = spawnDaemon([...args('ledger-on'), '--otlp'], exportEnv);
    children.push(off.child, on.child);
    let milliJoules = 1_000_000n;
    const ticker = setInterval(() => {
      milliJoules += 400_000n; // ~400 W per GPU
      void (async () => {
        for (let i = 0; i < GPU_COUNT; i++) await state.setEnergyMilliJoules(i, milliJoules + BigInt(i));
      })();
    }, 1000);
    try {
      await sleep(WARMUP_MS);
      for (const daemon of [off, on]) daemon.assertAlive();
      const before = [off, on].map((d) => threadCpuSeconds(d.pid));
      const sentBefore = counts(receiver);
      const t0 = performance.now();
      await sleep(seconds * 1000);
      for (const daemon of [off, on]) daemon.assertAlive();
      const after = [off, on].map((d) => threadCpuSeconds(d.pid));
      const wallSeconds = (performance.now() - t0) / 1000;
      const sent = counts(receiver);
      const measured = [off, on].map(
        (d, i): Measured => ({
          cpuPercentOfOneCore: (((after[i] ?? 0) - (before[i] ?? 0)) / wallSeconds) * 100,
          peakRssMiB: readUsage(d.pid).peakRssBytes / 1048576,
        }),
      );
      const [quiet, exporting] = measured as [Measured, Measured];
      const metricRequests = sent.metrics - sentBefore.metrics;
      const logRecords = sent.logRecords - sentBefore.logRecords;
      if (metricRequests === 0 || logRecords === 0 || sent.refused > 0)
        throw new Error(
          `the exporting daemon did not export (metric requests ${metricRequests}, log records ${logRecords}, refused ${sent.refused})`,
        );
      log(
        `export cost: ${metricRequests} metric requests and ${logRecords} log records received in the window`,
      );
      const scenario = 'daemon-nvml-8gpu-otlp';
      return [
        { scenario, metric: 'cpu-export-off', value: quiet.cpuPercentOfOneCore, unit: '% core' },
        {
          scenario,
          metric: 'cpu-export-on',
          value: exporting.cpuPercentOfOneCore,
          unit: '% core',
          note: `metrics every ${EXPORT_INTERVAL_MS} ms and 1-s batches exported as they are sealed (defaults: 60 s and 10 s), http/protobuf to a loopback receiver; ${metricRequests} metric requests and ${logRecords} log records in ${wallSeconds.toFixed(0)} s`,
        },
        {
          scenario,
          metric: 'cpu-export-cost',
          value: exporting.cpuPercentOfOneCore - quiet.cpuPercentOfOneCore,
          unit: '% core',
        },
        {
          scenario,
          metric: 'cpu-on/off',
          value: exporting.cpuPercentOfOneCore / Math.max(quiet.cpuPercentOfOneCore, 0.001),
          unit: 'x',
        },
        { scenario, metric: 'peak-rss-export-off', value: quiet.peakRssMiB, unit: 'MiB' },
        { scenario, metric: 'peak-rss-export-on', value: exporting.peakRssMiB, unit: 'MiB' },
        {
          scenario,
          metric: 'peak-rss-export-cost',
          value: exporting.peakRssMiB - quiet.peakRssMiB,
          unit: 'MiB',
        },
        {
          scenario,
          metric: 'peak-rss-on/off',
          value: exporting.peakRssMiB / Math.max(quiet.peakRssMiB, 0.001),
          unit: 'x',
        },
      ];
    } finally {
      clearInterval(ticker);
    }
  } finally {
    await Promise.all(children.map(stopChild));
    await receiver.close();
    await state.cleanup();
    await sysfs.cleanup();
    await rm(work, { recursive: true, force: true });
  }
}

function counts(receiver: OtlpReceiver): { metrics: number; logRecords: number; refused: number } {
  let logRecords = 0;
  for (const body of receiver.accepted('logs'))
    for (const rl of body.resourceLogs ?? [])
      for (const sl of rl.scopeLogs ?? []) logRecords += sl.logRecords.length;
  return {
    metrics: receiver.accepted('metrics').length,
    logRecords,
    refused: receiver.requests.filter((r) => r.status >= 300).length,
  };
}

function spawnDaemon(args: readonly string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  return {
    child,
    pid: child.pid as number,
    assertAlive(): void {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`daemon exited (${child.exitCode ?? child.signalCode}): ${stderr}`);
    },
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  // An exited child never emits 'exit' again: waiting for it would end the benchmark silently.
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

// ---------------------------------------------------------------------------------------------
// (b) Re-export of a day of batches.

interface SinkProgress {
  readonly batches: number;
  readonly records: number;
  readonly requests: number;
  readonly refused: number;
}

async function startSink(): Promise<{
  child: ChildProcess;
  endpoint: string;
  progress: () => SinkProgress;
  waitFor: (batches: number, timeoutMs: number) => Promise<void>;
}> {
  const child = fork(SINK, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  let latest: SinkProgress = { batches: 0, records: 0, requests: 0, refused: 0 };
  const waiters: (() => void)[] = [];
  const endpoint = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`otlp sink exited with ${code}`)));
    child.on('message', (message: { type?: string; endpoint?: string } & Partial<SinkProgress>) => {
      if (message.type === 'ready') resolve(message.endpoint as string);
      if (message.type === 'progress') {
        latest = message as SinkProgress;
        for (const wake of waiters.splice(0)) wake();
      }
    });
  });
  return {
    child,
    endpoint,
    progress: () => latest,
    async waitFor(batches, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (latest.batches < batches) {
        if (Date.now() > deadline)
          throw new Error(`the receiver has ${latest.batches} of ${batches} batches after ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
    },
  };
}

async function reExportDay(log: Log): Promise<BenchResult[]> {
  const tmpfs = existsSync('/dev/shm');
  const dir = await mkdtemp(join(tmpfs ? '/dev/shm' : tmpdir(), 'wattledger-bench-day-'));
  const sink = await startSink();
  try {
    log(`export re-export: writing a day of ${DAY_BATCH_INTERVAL_MS / 1000}-s batches (${DAY_BATCHES})`);
    const writeStart = performance.now();
    const signer = nodeSigner(nodePrivateKeyFromSeed(SEED));
    const origin = 'wattledger/bench-export';
    const { lines, bytes } = await writeDayLedger(dir, {
      signer,
      noteSigner: { name: origin, signer },
      origin,
    });
    log(
      `export re-export: wrote ${lines} batches (${(bytes / lines / 1024).toFixed(1)} KiB/line, ${(bytes / 1048576).toFixed(0)} MiB) in ${((performance.now() - writeStart) / 1000).toFixed(1)} s`,
    );
    const settings = {
      ...configSchema.parse({}).otlp,
      endpoint: sink.endpoint,
      protocol: 'http/protobuf' as const,
    };
    const logs = await OtlpLedgerLogs.open({
      ledgerDir: dir,
      resource: buildOtlpResource({ serviceVersion: VERSION }),
      settings,
    });
    const reading = await readingCost(dir, settings.logsMaxBatchRecords, log);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const acknowledged = await logs.flush();
    await sink.waitFor(lines, 60_000);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    await logs.stop();
    const { requests, refused, records } = sink.progress();
    if (!acknowledged || refused > 0) throw new Error(`re-export failed: ${refused} requests refused`);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    log(`export re-export: ${lines} batches + checkpoints (${records} records) in ${requests} requests`);
    const scenario = 're-export-day-10s-batches';
    return [
      {
        scenario,
        metric: 'batches',
        value: lines,
        unit: 'batches',
        note: `a day of ${DAY_BATCH_INTERVAL_MS / 1000}-s batches (the default interval), 8 simulated GPUs, ${(bytes / lines / 1024).toFixed(1)} KiB/line, ${(bytes / 1048576).toFixed(0)} MiB on ${tmpfs ? 'tmpfs' : 'disk'}; empty cursor, default settings (${settings.logsMaxBatchRecords} records per request), http/protobuf, receiver decoding with the official proto types in a child process`,
      },
      { scenario, metric: 'time-to-all-received', value: seconds, unit: 's' },
      { scenario, metric: 'throughput', value: lines / seconds, unit: 'batches/s' },
      { scenario, metric: 'throughput-bytes', value: bytes / 1048576 / seconds, unit: 'MiB/s' },
      ...reading.map((r) => ({ ...r, scenario })),
      {
        scenario,
        metric: 'exporter-cpu',
        value: cpuSeconds,
        unit: 'cpu s',
        note: 'the exporting process (read, encode, send, cursor fsync per request); the receiver is not counted',
      },
    ];
  } finally {
    sink.child.send({ type: 'exit' });
    await new Promise((resolve) => sink.child.once('exit', resolve));
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The ledger side alone (no network): every chunk of the day read with `readPendingChunk`,
 * resuming at the cursor's byte offset as the exporter does, and, for comparison, scanning the
 * cursor's segment from its start for every chunk, as it did before resume points (the position
 * without one). The scan is stopped after {@link SCAN_BUDGET_MS}; its rate is then of a prefix,
 * where segments are still short, so it flatters the scan.
 */
async function readingCost(dir: string, maxRecords: number, log: Log): Promise<BenchResult[]> {
  const limits = { maxRecords, maxBytes: 4 * 1024 * 1024 };
  const pass = async (resume: boolean, budgetMs: number) => {
    let position = START_POSITION;
    let batches = 0;
    let bytesRead = 0;
    const t0 = performance.now();
    for (;;) {
      const chunk = await readPendingChunk(dir, resume ? position : { ...position, resume: null }, limits);
      bytesRead += chunk.bytesRead;
      if (chunk.items.length === 0 || performance.now() - t0 > budgetMs) break;
      batches += chunk.items.filter((item) => item.kind === 'batch').length;
      position = chunk.next;
    }
    return { batches, bytesRead, seconds: (performance.now() - t0) / 1000 };
  };
  const offset = await pass(true, Number.POSITIVE_INFINITY);
  const scan = await pass(false, SCAN_BUDGET_MS);
  log(
    `export re-export: reading alone, ${offset.batches} batches in ${offset.seconds.toFixed(2)} s resuming at offsets; ` +
      `${scan.batches} in ${scan.seconds.toFixed(2)} s scanning each segment from its start`,
  );
  const mib = (bytes: number) => bytes / 1048576;
  return [
    { scenario: '', metric: 'read-only-offset', value: offset.batches / offset.seconds, unit: 'batches/s' },
    {
      scenario: '',
      metric: 'read-only-offset-bytes-read',
      value: mib(offset.bytesRead),
      unit: 'MiB',
      note: 'ledger bytes read to build every request of the day, resuming at the cursor offset',
    },
    {
      scenario: '',
      metric: 'read-only-rescan',
      value: scan.batches / scan.seconds,
      unit: 'batches/s',
      note: `the same chunks read by scanning the cursor's segment from its start each time (before resume points); stopped after ${scan.batches} batches (${(SCAN_BUDGET_MS / 1000).toFixed(0)} s budget), ${mib(scan.bytesRead).toFixed(0)} MiB read for them`,
    },
  ];
}

const SCAN_BUDGET_MS = 15_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
