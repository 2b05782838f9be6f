import { type ChildProcess, fork, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Attributor } from '../src/attribution/attributor.js';
import type { MeterTick } from '../src/meter/types.js';
import type { RequestEvent } from '../src/requests/types.js';
import { interval } from '../tests/helpers/device-interval.js';
import type { BenchResult } from './lib/report.js';
import type { LoadResult, LoadSpec, LoadWindow } from './lib/stream-load.js';

/**
 * The `proxy` group: what wattledger's measuring proxy costs, side by side in one run with direct
 * access to the upstream, with a plain node:http pass-through (`node`: the floor of any Node proxy,
 * no measurement) and with nginx as a plain reverse proxy (`proxy_buffering off`, HTTP/1.1
 * keep-alive upstream, one worker, no access log). Upstream, proxy (or nginx) and load generator
 * each run in their own process, pinned to their own cores when `taskset` and ≥ 2 CPUs allow
 * (the proxy gets a core to itself), so the proxy's CPU time read from /proc is its own. Scenarios
 * (closed loop, keep-alive): 1, 64 and 256 concurrent SSE streams of 64 chat chunks 5 ms apart,
 * interleaved direct/wattledger/node/nginx per concurrency; then 64 concurrent non-streamed requests.
 * Then the attributor's event throughput, in process. Ignores `--seconds`; BENCH_PROXY_SECONDS
 * sets the measured time per streaming scenario (default 8), BENCH_PROXY_CPU_PROF=DIR runs the
 * proxy with `--cpu-prof` into DIR, BENCH_PROXY_PIN=0 disables pinning, NGINX=PATH picks nginx.
 */

type Log = (line: string) => void;
type TargetName = 'direct' | 'wattledger' | 'node' | 'nginx';

const CONCURRENCY = [1, 64, 256] as const;
/** Rounds per concurrency, each running every target once (order reversed every other round). */
const ROUNDS = 2;
const CHUNKS = 64;
const CHUNK_INTERVAL_MS = 5;
const JSON_DELAY_MS = 20;
const WARMUP_MS = 1000;
const WINDOW_MS = 1000;
const JSON_CONCURRENCY = 64;
const JSON_MEASURE_MS = 4000;
const CPU_RATIO_GOAL = 3;
const ADDED_P99_GOAL_MS = 1;

interface Target {
  readonly name: TargetName;
  readonly url: string;
  /** Processes charged with the target's CPU (none for direct). */
  readonly pids: readonly number[];
}

/** Latency percentiles, ms. */
interface Percentiles {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
}

/** One target at one concurrency: the windows and latency samples of all its rounds, pooled. */
interface Summary {
  readonly windows: readonly LoadWindow[];
  readonly ttfbMs: Percentiles;
  readonly totalMs: Percentiles;
  readonly chunkMs: Percentiles;
  readonly eventsPerResponse: number;
}

interface Cell {
  readonly target: TargetName;
  readonly concurrency: number;
  readonly result: Summary;
}

export async function benchProxyCost(_seconds: number, log: Log): Promise<BenchResult[]> {
  const started = performance.now();
  const measureMs = Number(process.env.BENCH_PROXY_SECONDS ?? 8) * 1000;
  const results: BenchResult[] = [];
  const cpus = planCpus();
  log(
    cpus === undefined
      ? 'proxy: processes not pinned (BENCH_PROXY_PIN=0, no taskset, or 1 CPU)'
      : `proxy: pinning proxy/nginx to CPU ${cpus.target}, upstream to ${cpus.upstream}, load generator to ${cpus.load}`,
  );
  const children: Child[] = [];
  let nginx: Nginx | undefined;
  try {
    const upstream = await Child.start('sse-upstream.js', [
      String(CHUNKS),
      String(CHUNK_INTERVAL_MS),
      String(JSON_DELAY_MS),
    ]);
    children.push(upstream);
    const upstreamPort = upstream.ready.port as number;
    const profileDir = process.env.BENCH_PROXY_CPU_PROF;
    const proxy = await Child.start(
      'proxy-child.js',
      [`http://127.0.0.1:${upstreamPort}`],
      profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
    );
    children.push(proxy);
    const passthrough = await Child.start('node-passthrough.js', [`http://127.0.0.1:${upstreamPort}`]);
    children.push(passthrough);
    const load = await Child.start('stream-load.js', []);
    children.push(load);
    const nginxOrReason = await startNginx(upstreamPort);
    if (typeof nginxOrReason === 'string') log(`proxy: nginx column skipped: ${nginxOrReason}`);
    else nginx = nginxOrReason;
    if (cpus !== undefined) {
      pin(
        [proxy.pid, passthrough.pid, ...(nginx ? [nginx.masterPid, ...nginx.workerPids] : [])],
        cpus.target,
      );
      pin([upstream.pid], cpus.upstream);
      pin([load.pid], cpus.load);
    }
    const targets: Target[] = [
      { name: 'direct', url: `http://127.0.0.1:${upstreamPort}`, pids: [] },
      { name: 'wattledger', url: `http://127.0.0.1:${proxy.ready.port as number}`, pids: [proxy.pid] },
      { name: 'node', url: `http://127.0.0.1:${passthrough.ready.port as number}`, pids: [passthrough.pid] },
      ...(nginx
        ? [{ name: 'nginx' as const, url: `http://127.0.0.1:${nginx.port}`, pids: nginx.workerPids }]
        : []),
    ];

    // Warm every target up (JIT, connection pools) so that even the 1-stream figures are steady state.
    for (const target of targets)
      await runLoad(load, target, upstream.pid, 64, true, WINDOW_MS, WARMUP_MS * 2);
    const cells: Cell[] = [];
    for (const concurrency of CONCURRENCY) {
      const runs = new Map<TargetName, LoadResult[]>();
      for (let round = 0; round < ROUNDS; round++) {
        for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
          const result = await runLoad(load, target, upstream.pid, concurrency, true, measureMs / ROUNDS);
          runs.set(target.name, [...(runs.get(target.name) ?? []), result]);
        }
      }
      for (const target of targets) {
        const result = summarize(runs.get(target.name)!);
        cells.push({ target: target.name, concurrency, result });
        log(`proxy: ${describeCell(target.name, concurrency, result)}`);
      }
    }
    const jsonCells: Cell[] = [];
    for (const target of targets) {
      const result = summarize([
        await runLoad(load, target, upstream.pid, JSON_CONCURRENCY, false, JSON_MEASURE_MS),
      ]);
      jsonCells.push({ target: target.name, concurrency: JSON_CONCURRENCY, result });
      log(`proxy: ${describeCell(target.name, JSON_CONCURRENCY, result)} (non-streamed)`);
    }
    const proxyStats = (await proxy.request({ type: 'stats' }, 'stats')) as unknown as ProxyChildStats;

    results.push(...streamResults(cells, typeof nginxOrReason === 'string' ? nginxOrReason : undefined));
    results.push(...jsonResults(jsonCells));
    results.push(sinkResult(proxyStats));
  } finally {
    await nginx?.stop();
    for (const child of children.reverse()) await child.stop();
  }

  log('proxy: attributor throughput, in process');
  results.push(benchAttributor());
  log(`proxy: group done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return results;
}

// ---------------------------------------------------------------------------------------------
// Scenarios and figures

function runLoad(
  load: Child,
  target: Target,
  upstreamPid: number,
  concurrency: number,
  stream: boolean,
  measureMs: number,
  warmupMs = stream ? WARMUP_MS : WARMUP_MS / 2,
): Promise<LoadResult> {
  const spec: LoadSpec = {
    url: target.url,
    concurrency,
    stream,
    warmupMs,
    durationMs: measureMs,
    windowMs: WINDOW_MS,
    pids: target.pids,
    upstreamPid,
  };
  return load.request({ type: 'run', spec }, 'result').then((reply) => {
    const result = reply.result as LoadResult;
    if (result.errors > 0)
      throw new Error(
        `${target.name} c=${concurrency}: ${result.errors} errors, first: ${result.firstError}`,
      );
    return result;
  });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function percentiles(micros: readonly number[]): Percentiles {
  if (micros.length === 0) return { n: 0, p50: Number.NaN, p99: Number.NaN };
  const sorted = Float64Array.from(micros).sort();
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! / 1000;
  return { n: sorted.length, p50: at(0.5), p99: at(0.99) };
}

function summarize(runs: readonly LoadResult[]): Summary {
  const events = runs.reduce((sum, r) => sum + r.eventsPerResponse, 0) / runs.length;
  return {
    windows: runs.flatMap((r) => r.windows),
    ttfbMs: percentiles(runs.flatMap((r) => r.ttfbMicros)),
    totalMs: percentiles(runs.flatMap((r) => r.totalMicros)),
    chunkMs: percentiles(runs.flatMap((r) => r.chunkMicros)),
    eventsPerResponse: events,
  };
}

const perWindow = (windows: readonly LoadWindow[], f: (w: LoadWindow) => number): number =>
  median(windows.map(f));
const eventsPerSecond = (r: Summary): number => perWindow(r.windows, (w) => w.events / w.wallSeconds);
const responsesPerSecond = (r: Summary): number => perWindow(r.windows, (w) => w.responses / w.wallSeconds);
const cpuMicrosPerEvent = (r: Summary): number =>
  perWindow(r.windows, (w) => (w.targetCpuSeconds / Math.max(w.events, 1)) * 1e6);
const cpuMicrosPerResponse = (r: Summary): number =>
  perWindow(r.windows, (w) => (w.targetCpuSeconds / Math.max(w.responses, 1)) * 1e6);
const cpuShare = (r: Summary): number =>
  perWindow(r.windows, (w) => (w.targetCpuSeconds / w.wallSeconds) * 100);
/** CPU used by processes outside this benchmark (the machine may be shared), % of one core. */
const foreignLoad = (r: Summary): number =>
  perWindow(
    r.windows,
    (w) =>
      (Math.max(0, w.machineCpuSeconds - w.targetCpuSeconds - w.upstreamCpuSeconds - w.loadCpuSeconds) /
        w.wallSeconds) *
      100,
  );
const busiest = (r: Summary): { upstream: number; load: number; target: number } => ({
  upstream: Math.max(...r.windows.map((w) => w.upstreamCpuSeconds / w.wallSeconds)),
  load: Math.max(...r.windows.map((w) => w.loadCpuSeconds / w.wallSeconds)),
  target: Math.max(...r.windows.map((w) => w.targetCpuSeconds / w.wallSeconds)),
});

const fixed = (value: number, digits: number): string => (Number.isNaN(value) ? '-' : value.toFixed(digits));

function describeCell(name: TargetName, concurrency: number, r: Summary): string {
  const busy = busiest(r);
  return (
    `${name} c=${concurrency}: ${eventsPerSecond(r).toFixed(0)} events/s, ${responsesPerSecond(r).toFixed(0)} resp/s, ` +
    `ttfb p50/p99 ${fixed(r.ttfbMs.p50, 2)}/${fixed(r.ttfbMs.p99, 2)} ms, total p50/p99 ` +
    `${fixed(r.totalMs.p50, 1)}/${fixed(r.totalMs.p99, 1)} ms, chunk p50/p99 ${fixed(r.chunkMs.p50, 3)}/` +
    `${fixed(r.chunkMs.p99, 3)} ms, target ${(busy.target * 100).toFixed(0)}% upstream ` +
    `${(busy.upstream * 100).toFixed(0)}% load ${(busy.load * 100).toFixed(0)}% of a core (max window), ` +
    `other processes ${foreignLoad(r).toFixed(0)}% (median)`
  );
}

function streamResults(cells: readonly Cell[], nginxSkipped: string | undefined): BenchResult[] {
  const out: BenchResult[] = [];
  const find = (target: TargetName, concurrency: number) =>
    cells.find((c) => c.target === target && c.concurrency === concurrency)?.result;
  for (const concurrency of CONCURRENCY) {
    const direct = find('direct', concurrency)!;
    const scenario = (name: TargetName): string => `proxy-sse-c${concurrency} ${name}`;
    const peak = cells
      .filter((c) => c.concurrency === concurrency)
      .map((c) => busiest(c.result))
      .reduce((a, b) => ({
        upstream: Math.max(a.upstream, b.upstream),
        load: Math.max(a.load, b.load),
        target: Math.max(a.target, b.target),
      }));
    out.push({
      scenario: scenario('direct'),
      metric: 'chunks/s',
      value: eventsPerSecond(direct),
      unit: '/s',
      note:
        `SSE events received (${direct.eventsPerResponse.toFixed(0)} per response: ${CHUNKS} chunks of ~200 B ` +
        `${CHUNK_INTERVAL_MS} ms apart + [DONE]), median of ${direct.windows.length} ${WINDOW_MS / 1000}-s windows ` +
        `(${ROUNDS} interleaved rounds); peak CPU of the upstream ${(peak.upstream * 100).toFixed(0)}% and of the ` +
        `load generator ${(peak.load * 100).toFixed(0)}% of a core`,
    });
    const foreign = median(
      cells
        .filter((c) => c.concurrency === concurrency && c.target !== 'direct')
        .map((c) => foreignLoad(c.result)),
    );
    out.push({
      scenario: `proxy-sse-c${concurrency}`,
      metric: 'other processes',
      value: foreign,
      unit: '% core',
      note: `CPU used meanwhile by processes outside this benchmark, of ${availableParallelism()} CPUs${foreign > 20 ? ': the machine is shared, so latencies and rates here are disturbed (CPU per chunk much less)' : ''}`,
    });
    out.push({ scenario: scenario('direct'), metric: 'ttfb p50', value: direct.ttfbMs.p50, unit: 'ms' });
    out.push({ scenario: scenario('direct'), metric: 'ttfb p99', value: direct.ttfbMs.p99, unit: 'ms' });
    out.push({ scenario: scenario('direct'), metric: 'total p50', value: direct.totalMs.p50, unit: 'ms' });
    out.push({ scenario: scenario('direct'), metric: 'total p99', value: direct.totalMs.p99, unit: 'ms' });
    out.push({ scenario: scenario('direct'), metric: 'chunk p99', value: direct.chunkMs.p99, unit: 'ms' });
    const cpu: Partial<Record<TargetName, number>> = {};
    for (const name of ['wattledger', 'node', 'nginx'] as const) {
      const r = find(name, concurrency);
      if (r === undefined) continue;
      cpu[name] = cpuMicrosPerEvent(r);
      const gate = concurrency === 256 && name !== 'node';
      // A negative difference means the direct run was the slower one: this machine's noise is
      // larger than the proxy's effect, and no verdict on the goal can be read from it.
      const added = (metric: string, value: number, goal: boolean, note?: string): BenchResult => {
        const notes = [
          ...(note ? [note] : []),
          ...(goal && value < 0 ? ['below the direct run (noise larger than the effect): no verdict'] : []),
        ];
        return {
          scenario: scenario(name),
          metric,
          value,
          unit: 'ms',
          ...(goal ? { goal: `≤ ${ADDED_P99_GOAL_MS}` } : {}),
          ...(goal && value >= 0 ? { pass: value <= ADDED_P99_GOAL_MS } : {}),
          ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
        };
      };
      out.push({ scenario: scenario(name), metric: 'chunks/s', value: eventsPerSecond(r), unit: '/s' });
      out.push({
        scenario: scenario(name),
        metric: 'cpu/chunk',
        value: cpu[name],
        unit: 'µs',
        note:
          name === 'wattledger'
            ? `CPU of the proxy process (all threads, /proc schedstat) per SSE event relayed, median of windows; ${nginxSkipped ? `nginx column skipped: ${nginxSkipped}` : 'compare nginx'}`
            : name === 'node'
              ? 'CPU of a plain node:http pass-through (pipe both ways, no measurement) per SSE event: the floor of any Node proxy'
              : 'CPU of the nginx worker (1 worker, access_log off) per SSE event relayed, median of windows',
      });
      const share = cpuShare(r);
      out.push({
        scenario: scenario(name),
        metric: 'cpu',
        value: share,
        unit: '% core',
        ...(share > 80
          ? { note: 'near a full core: its added latency here is mostly queueing behind its own work' }
          : {}),
      });
      out.push(added('ttfb p50 added', r.ttfbMs.p50 - direct.ttfbMs.p50, false));
      out.push(
        added(
          'ttfb p99 added',
          r.ttfbMs.p99 - direct.ttfbMs.p99,
          gate,
          gate ? 'time to first body byte, p99 minus direct p99 (same run)' : undefined,
        ),
      );
      out.push(added('total p50 added', r.totalMs.p50 - direct.totalMs.p50, false));
      out.push(added('total p99 added', r.totalMs.p99 - direct.totalMs.p99, gate));
      out.push(added('chunk p50 added', r.chunkMs.p50 - direct.chunkMs.p50, false));
      out.push(
        added(
          'chunk p99 added',
          r.chunkMs.p99 - direct.chunkMs.p99,
          gate,
          gate
            ? "per chunk: upstream write (its CLOCK_MONOTONIC stamp in the chunk) to client read, p99 minus direct's"
            : undefined,
        ),
      );
    }
    if (cpu.wattledger !== undefined && cpu.node !== undefined) {
      out.push({
        scenario: `proxy-sse-c${concurrency}`,
        metric: 'cpu/chunk wattledger÷node',
        value: cpu.wattledger / cpu.node,
        unit: '×',
        note: 'the measuring proxy against a plain node:http pass-through: what measurement itself costs',
      });
    }
    if (cpu.wattledger !== undefined && cpu.nginx !== undefined) {
      const ratio = cpu.wattledger / cpu.nginx;
      out.push({
        scenario: `proxy-sse-c${concurrency}`,
        metric: 'cpu/chunk wattledger÷nginx',
        value: ratio,
        unit: '×',
        goal: `≤ ${CPU_RATIO_GOAL}`,
        pass: ratio <= CPU_RATIO_GOAL,
        ...(concurrency === 1
          ? {
              note: 'one stream: each chunk wakes an idle process (epoll, loopback TCP), a fixed cost that dominates both',
            }
          : {}),
      });
    }
  }
  return out;
}

function jsonResults(cells: readonly Cell[]): BenchResult[] {
  const out: BenchResult[] = [];
  const direct = cells.find((c) => c.target === 'direct')!.result;
  const scenario = (name: TargetName): string => `proxy-json-c${JSON_CONCURRENCY} ${name}`;
  out.push({
    scenario: scenario('direct'),
    metric: 'req/s',
    value: responsesPerSecond(direct),
    unit: '/s',
    note: `non-streamed chat completions, upstream answers after ${JSON_DELAY_MS} ms`,
  });
  out.push({ scenario: scenario('direct'), metric: 'total p99', value: direct.totalMs.p99, unit: 'ms' });
  const cpu: Partial<Record<TargetName, number>> = {};
  for (const name of ['wattledger', 'node', 'nginx'] as const) {
    const r = cells.find((c) => c.target === name)?.result;
    if (r === undefined) continue;
    cpu[name] = cpuMicrosPerResponse(r);
    out.push({ scenario: scenario(name), metric: 'req/s', value: responsesPerSecond(r), unit: '/s' });
    out.push({ scenario: scenario(name), metric: 'cpu/request', value: cpu[name], unit: 'µs' });
    out.push({
      scenario: scenario(name),
      metric: 'total p50 added',
      value: r.totalMs.p50 - direct.totalMs.p50,
      unit: 'ms',
    });
    out.push({
      scenario: scenario(name),
      metric: 'total p99 added',
      value: r.totalMs.p99 - direct.totalMs.p99,
      unit: 'ms',
    });
  }
  if (cpu.wattledger !== undefined && cpu.nginx !== undefined) {
    out.push({
      scenario: `proxy-json-c${JSON_CONCURRENCY}`,
      metric: 'cpu/request wattledger÷nginx',
      value: cpu.wattledger / cpu.nginx,
      unit: '×',
    });
  }
  return out;
}

interface ProxyChildStats {
  readonly events: { start: number; progress: number; end: number; endOk: number };
  readonly stats: { requests: number; measured: number; measurementErrors: number; inFlight: number };
}

/** Sanity: the sink saw one start and one ok end per measured request, and a progress per chunk. */
function sinkResult(s: ProxyChildStats): BenchResult {
  const { start, progress, end, endOk } = s.events;
  const unbalanced = Math.abs(start - end) + (end - endOk) + s.stats.measurementErrors;
  return {
    scenario: 'proxy sink',
    metric: 'unbalanced events',
    value: unbalanced,
    unit: '',
    goal: '0',
    pass: unbalanced === 0,
    note: `the no-op sink counted start ${start}, end ${end} (ok ${endOk}), progress ${progress} (${CHUNKS} per streamed request, none per non-streamed one); measurement errors ${s.stats.measurementErrors}`,
  };
}

// ---------------------------------------------------------------------------------------------
// Attributor throughput

const ATTR_GPUS = 8;
const ATTR_STREAMS = 256;
const ATTR_STEP_NS = 5_000_000n;
const ATTR_STEPS = 2400; // 12 s of simulated time, ~620k request events
const ATTR_TICK_STEPS = 20; // GPU ticks every 100 ms
const ATTR_HOST_TICK_STEPS = 200; // RAPL ticks every 1 s
const ATTR_REPS = 5;

function benchAttributor(): BenchResult {
  const gpus = Array.from({ length: ATTR_GPUS }, (_, i) => `gpu-${i}`);
  const hosts = ['rapl-package-0', 'rapl-package-1'];
  const ops = attributorWorkload(gpus, hosts);
  const requestEvents = ops.filter((op) => !('probe' in op)).length;
  const rates: number[] = [];
  let records = 0;
  for (let rep = 0; rep < ATTR_REPS; rep++) {
    records = 0;
    const attributor = new Attributor({
      engines: [{ engineId: 'engine-bench', deviceIds: gpus, models: ['bench-model'] }],
      hostDeviceIds: hosts,
      idlePowerMilliWatts: new Map(gpus.map((id) => [id, 70_000])),
      onRecord: () => {
        records += 1;
      },
    });
    const t0 = performance.now();
    for (const op of ops) {
      if ('probe' in op) attributor.onTick(op);
      else attributor.onEvent(op);
    }
    attributor.flush();
    rates.push(requestEvents / ((performance.now() - t0) / 1000));
  }
  return {
    scenario: 'attributor',
    metric: 'events/s',
    value: median(rates),
    unit: '/s',
    note: `${requestEvents} request events (256 concurrent streams: start, ${CHUNKS} progress, end with usage) and ${ATTR_STEPS / ATTR_TICK_STEPS} ticks of ${ATTR_GPUS} GPUs + RAPL ticks, ${records} records; wall time includes the splitting; median of ${ATTR_REPS}`,
  };
}

function attributorWorkload(
  gpus: readonly string[],
  hosts: readonly string[],
): Array<RequestEvent | MeterTick> {
  const ops: Array<RequestEvent | MeterTick> = [];
  const epoch = 1_735_689_600_000_000_000n;
  const cycle = CHUNKS + 2; // start, progress…, end
  let gpuSeq = 0;
  let hostSeq = 0;
  for (let step = 0; step <= ATTR_STEPS; step++) {
    const t = BigInt(step) * ATTR_STEP_NS + 1n;
    for (let slot = 0; slot < ATTR_STREAMS; slot++) {
      const offset = step - (slot % cycle);
      if (offset < 0) continue;
      const phase = offset % cycle;
      const requestId = `s${slot}-${Math.floor(offset / cycle)}`;
      if (phase === 0) {
        ops.push({
          type: 'start',
          requestId,
          source: 'proxy',
          engineId: 'engine-bench',
          model: 'bench-model',
          operation: 'chat',
          monoNanos: t,
          unixNanos: epoch + t,
        });
      } else if (phase <= CHUNKS) {
        ops.push({ type: 'progress', requestId, monoNanos: t, outputTokens: phase, estimated: true });
      } else {
        ops.push({
          type: 'end',
          requestId,
          monoNanos: t,
          unixNanos: epoch + t,
          outcome: 'ok',
          usage: { inputTokens: 12, cachedInputTokens: 0, outputTokens: CHUNKS },
        });
      }
    }
    if (step > 0 && step % ATTR_TICK_STEPS === 0) {
      const from = t - BigInt(ATTR_TICK_STEPS) * ATTR_STEP_NS;
      ops.push({
        probe: 'nvml',
        seq: gpuSeq++,
        monoNanos: t,
        unixNanos: epoch + t,
        intervals: gpus.map((id) => interval(id, from, t, 40_000n)),
      });
    }
    if (step > 0 && step % ATTR_HOST_TICK_STEPS === 0) {
      const from = t - BigInt(ATTR_HOST_TICK_STEPS) * ATTR_STEP_NS;
      ops.push({
        probe: 'rapl',
        seq: hostSeq++,
        monoNanos: t,
        unixNanos: epoch + t,
        intervals: hosts.map((id) => interval(id, from, t, 150_000_000n)),
      });
    }
  }
  return ops;
}

// ---------------------------------------------------------------------------------------------
// Processes

/** A forked bench child (dist/bench/lib/NAME.js) talking over IPC, one request at a time. */
class Child {
  private stderr = '';
  private constructor(
    private readonly proc: ChildProcess,
    private readonly name: string,
    readonly ready: Record<string, unknown>,
  ) {
    proc.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  static async start(
    script: string,
    args: readonly string[],
    execArgv: readonly string[] = [],
  ): Promise<Child> {
    const path = fileURLToPath(new URL(`./lib/${script}`, import.meta.url));
    const proc = fork(path, [...args], {
      execArgv: [...execArgv],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    let stderr = '';
    const onData = (chunk: Buffer): void => {
      stderr += chunk.toString();
    };
    proc.stderr?.on('data', onData);
    const ready = await awaitMessage(proc, 'ready', 10_000, () => `${script}: ${stderr}`);
    proc.stderr?.off('data', onData);
    return new Child(proc, script, ready);
  }

  request(message: Record<string, unknown>, replyType: string): Promise<Record<string, unknown>> {
    const reply = awaitMessage(this.proc, replyType, 120_000, () => `${this.name}: ${this.stderr}`);
    this.proc.send(message);
    return reply;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((resolve) => this.proc.once('exit', resolve));
    this.proc.send({ type: 'exit' });
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

function awaitMessage(
  proc: ChildProcess,
  type: string,
  timeoutMs: number,
  context: () => string,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
      proc.off('message', onMessage);
      proc.off('exit', onExit);
    };
    const onMessage = (message: Record<string, unknown>): void => {
      if (message.type === 'error') {
        cleanup();
        reject(new Error(`${context()}: ${String(message.message)}`));
      } else if (message.type === type) {
        cleanup();
        resolve(message);
      }
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`bench child exited (${code}) waiting for '${type}': ${context()}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no '${type}' from bench child in ${timeoutMs} ms: ${context()}`));
    }, timeoutMs);
    proc.on('message', onMessage);
    proc.on('exit', onExit);
  });
}

interface CpuPlan {
  readonly target: string;
  readonly upstream: string;
  readonly load: string;
}

/** Proxy alone on CPU 0; the upstream and the load generator on the others. */
function planCpus(): CpuPlan | undefined {
  const n = availableParallelism();
  if (process.env.BENCH_PROXY_PIN === '0' || n < 2) return undefined;
  if (spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status !== 0) return undefined;
  if (n === 2) return { target: '0', upstream: '1', load: '1' };
  return { target: '0', upstream: '1', load: n === 3 ? '2' : `2-${n - 1}` };
}

/** Sets the CPU affinity of every thread of each process. */
function pin(pids: readonly number[], cpus: string): void {
  for (const pid of pids) spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

interface Nginx {
  readonly port: number;
  readonly masterPid: number;
  readonly workerPids: number[];
  stop(): Promise<void>;
}

/** NGINX=PATH (only that one), else `nginx` on PATH or in the usual sbin folders. */
function findNginx(): string | undefined {
  const candidates = process.env.NGINX
    ? [process.env.NGINX]
    : ['nginx', '/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];
  return candidates.find((candidate) => spawnSync(candidate, ['-v'], { stdio: 'ignore' }).status === 0);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** nginx as a plain streaming reverse proxy in front of the upstream, or why it cannot run. */
async function startNginx(upstreamPort: number): Promise<Nginx | string> {
  const binary = findNginx();
  if (binary === undefined)
    return `nginx not found (${process.env.NGINX ? `NGINX=${process.env.NGINX}` : 'PATH, /usr/sbin, /usr/local'}); e.g. apt-get install nginx-light`;
  const dir = mkdtempSync(join(tmpdir(), 'wattledger-bench-nginx-'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream bench { server 127.0.0.1:${upstreamPort}; keepalive 1024; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    location / {
      proxy_pass http://bench;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`,
  );
  const master = spawn(binary, ['-p', `${dir}/`, '-c', conf, '-e', `${dir}/error.log`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  master.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => master.once('exit', () => resolve()));
  const cleanup = async (): Promise<void> => {
    if (master.exitCode === null && master.signalCode === null) {
      master.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 5000;
  for (;;) {
    const workers = master.pid === undefined ? [] : childrenOf(master.pid);
    if (workers.length > 0 && (await canConnect(port))) {
      return { port, masterPid: master.pid as number, workerPids: workers, stop: cleanup };
    }
    if (master.exitCode !== null || Date.now() > deadline) {
      let log = '';
      try {
        log = readFileSync(`${dir}/error.log`, 'utf8');
      } catch {}
      await cleanup();
      return `${binary} did not start: ${(stderr + log).trim().slice(-400) || 'timed out'}`;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
