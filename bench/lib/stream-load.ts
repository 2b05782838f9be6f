import { readFileSync } from 'node:fs';
import http from 'node:http';
import { availableParallelism } from 'node:os';
import { threadCpuSeconds } from './cpu-time.js';

/**
 * Child process of the `proxy` bench group: a closed-loop load generator. Each `run` message keeps
 * `concurrency` requests in flight over keep-alive node:http connections (a finished request is
 * replaced at once) for `warmupMs + durationMs`, and answers with what the measured part saw:
 * per-request time to first body byte and total time, per-chunk delivery latency (from the
 * upstream's `"t"` send stamp), and, per window of `windowMs`, SSE events received, responses
 * completed and the CPU seconds the processes in `pids` used (read from /proc at the window's
 * edges, so CPU and counts cover the same time).
 */

export interface LoadSpec {
  readonly url: string;
  readonly concurrency: number;
  readonly stream: boolean;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly windowMs: number;
  /** Processes whose CPU time is charged to the target (the proxy, nginx workers); may be empty. */
  readonly pids: readonly number[];
  /** The upstream's pid, to tell whether it kept up. */
  readonly upstreamPid: number;
}

export interface LoadWindow {
  readonly wallSeconds: number;
  readonly events: number;
  readonly responses: number;
  readonly targetCpuSeconds: number;
  readonly upstreamCpuSeconds: number;
  readonly loadCpuSeconds: number;
  /** CPU seconds used by the whole machine (all processes, all CPUs), from /proc/stat. */
  readonly machineCpuSeconds: number;
}

export interface LoadResult {
  readonly errors: number;
  readonly firstError?: string;
  /** Time to first body byte of each request started in the measured window, µs. */
  readonly ttfbMicros: readonly number[];
  /** Total time of each of those requests, µs. */
  readonly totalMicros: readonly number[];
  /** Upstream write to client read of each content chunk read in the measured window, µs. */
  readonly chunkMicros: readonly number[];
  readonly eventsPerResponse: number;
  readonly windows: readonly LoadWindow[];
}

const LF = 0x0a;
const T_KEY = Buffer.from('"t":');
const BODY = (stream: boolean): string =>
  JSON.stringify({
    model: 'bench-model',
    messages: [{ role: 'user', content: 'Write sixty-four tokens.' }],
    max_tokens: 64,
    stream,
  });

const nowMicros = (): number => Number(process.hrtime.bigint() / 1000n);

function cpuOf(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) total += threadCpuSeconds(pid);
  return total;
}

/** Busy and total jiffies of all CPUs together (first line of /proc/stat). */
function machineJiffies(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8')
    .split('\n', 1)[0]!
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

function selfCpu(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

function run(spec: LoadSpec): Promise<LoadResult> {
  const target = new URL(spec.url);
  const body = BODY(spec.stream);
  const agent = new http.Agent({
    keepAlive: true,
    maxSockets: spec.concurrency,
    maxFreeSockets: spec.concurrency,
    scheduling: 'lifo',
  });
  const ttfb: number[] = [];
  const total: number[] = [];
  const chunk: number[] = [];
  const windows: LoadWindow[] = [];
  let measuring = false;
  let stopping = false;
  let measureStart = Number.POSITIVE_INFINITY;
  let measureEnd = Number.POSITIVE_INFINITY;
  let inFlight = 0;
  let errors = 0;
  let firstError: string | undefined;
  let events = 0;
  let responses = 0;
  let measuredEvents = 0;
  let measuredResponses = 0;

  return new Promise((resolve, reject) => {
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      agent.destroy();
      resolve({
        errors,
        ...(firstError === undefined ? {} : { firstError }),
        ttfbMicros: ttfb,
        totalMicros: total,
        chunkMicros: chunk,
        eventsPerResponse: measuredResponses === 0 ? 0 : measuredEvents / measuredResponses,
        windows,
      });
    };
    const fail = (error: Error): void => {
      errors += 1;
      firstError ??= error.message;
      if (errors > 1000 && !stopping) {
        stopping = true;
        reject(new Error(`load: too many errors against ${spec.url}: ${firstError}`));
      }
      setTimeout(issue, 10);
    };

    function issue(): void {
      if (stopping) {
        if (inFlight === 0) finish();
        return;
      }
      inFlight += 1;
      const started = nowMicros();
      let first = -1;
      let lastWasLf = false;
      let seen = 0;
      let settled = false;
      /** Each request leaves the in-flight count once, however it ends. */
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        inFlight -= 1;
        return true;
      };
      const request = http.request(
        {
          host: target.hostname,
          port: target.port,
          path: '/v1/chat/completions',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (response) => {
          response.on('data', (data: Buffer) => {
            const at = nowMicros();
            if (first < 0) first = at;
            // SSE events end with a blank line: count "\n\n", also when split across reads.
            let n = lastWasLf && data[0] === LF ? 1 : 0;
            for (let i = data.indexOf('\n\n'); i >= 0; i = data.indexOf('\n\n', i + 2)) n += 1;
            lastWasLf = data[data.length - 1] === LF;
            seen += n;
            if (!measuring) return;
            events += n;
            for (let i = data.indexOf(T_KEY); i >= 0; i = data.indexOf(T_KEY, i + 4)) {
              let sent = 0;
              let j = i + 4;
              for (; j < data.length && data[j]! >= 0x30 && data[j]! <= 0x39; j++)
                sent = sent * 10 + data[j]! - 0x30;
              if (j < data.length) chunk.push(at - sent); // a stamp cut by the read is skipped
            }
          });
          response.on('error', (error) => {
            if (settle()) fail(error);
          });
          response.on('end', () => {
            const ended = nowMicros();
            if (!settle()) return;
            if (response.statusCode !== 200) {
              fail(new Error(`HTTP ${response.statusCode}`));
              return;
            }
            if (measuring) responses += 1;
            // Every request started inside the window counts, also if it ends during the drain:
            // dropping those would favour short requests.
            if (started >= measureStart && started < measureEnd) {
              ttfb.push(first - started);
              total.push(ended - started);
              measuredEvents += seen;
              measuredResponses += 1;
            }
            issue();
          });
        },
      );
      request.on('error', (error) => {
        if (settle()) fail(error);
      });
      request.end(body);
    }

    for (let i = 0; i < spec.concurrency; i++) issue();

    setTimeout(() => {
      measuring = true;
      measureStart = nowMicros();
      const sample = () => ({
        at: performance.now(),
        target: cpuOf(spec.pids),
        up: cpuOf([spec.upstreamPid]),
        self: selfCpu(),
        machine: machineJiffies(),
      });
      let last = sample();
      const ticker = setInterval(() => {
        const now = sample();
        const wallSeconds = (now.at - last.at) / 1000;
        const busy = now.machine.busy - last.machine.busy;
        const all = Math.max(1, now.machine.total - last.machine.total);
        windows.push({
          wallSeconds,
          events,
          responses,
          targetCpuSeconds: now.target - last.target,
          upstreamCpuSeconds: now.up - last.up,
          loadCpuSeconds: now.self - last.self,
          machineCpuSeconds: (busy / all) * availableParallelism() * wallSeconds,
        });
        events = 0;
        responses = 0;
        last = now;
        if (windows.length * spec.windowMs >= spec.durationMs) {
          clearInterval(ticker);
          measuring = false;
          measureEnd = nowMicros();
          stopping = true;
          if (inFlight === 0) finish();
        }
      }, spec.windowMs);
    }, spec.warmupMs);
  });
}

process.on('message', (message: { type?: string; spec?: LoadSpec }) => {
  if (message.type === 'exit') process.exit(0);
  if (message.type !== 'run' || message.spec === undefined) return;
  run(message.spec).then(
    (result) => process.send?.({ type: 'result', result }),
    (error: unknown) => process.send?.({ type: 'error', message: String(error) }),
  );
});
process.send?.({ type: 'ready' });
