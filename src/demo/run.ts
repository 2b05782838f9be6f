import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDaemon } from '../cli/run.js';
import { type Clock, systemClock } from '../clock.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../log.js';
import type { ProbeSelection } from '../probes/select.js';
import { formatPower } from '../units.js';
import { demoConfig, demoPaths, prepareDemoDir, writeDemoConfig } from './config.js';
import { DemoLoad } from './load.js';
import { DaemonLogSink } from './log-sink.js';
import { DEMO_ENGINES } from './models.js';
import { DemoNode } from './node.js';

/** Options of {@link runDemo} (the `wattledger demo` flags). */
export interface DemoOptions {
  /** Keep everything here; absent: a temporary directory, removed at exit. */
  readonly dir?: string | undefined;
  /** Stop after this many seconds; absent: at `signal` (Ctrl+C). */
  readonly seconds?: number | undefined;
  readonly apiListen: string;
  readonly proxyListen: string;
  readonly requestsPerSecond: number;
  readonly batchIntervalMs: number;
  /** Measure this host's real GPUs (the inference servers stay simulated). */
  readonly realGpus: boolean;
  readonly signal: AbortSignal;
  readonly out: NodeJS.WritableStream & { isTTY?: boolean };
  readonly clock?: Clock;
}

/** How often the progress line is redrawn. */
const PROGRESS_MS = 2000;

/**
 * `wattledger demo`: the daemon (meter, proxy, attribution, signed ledger, API and dashboard)
 * on a simulated 8-GPU node with four OpenAI-compatible model servers, and a load generator
 * sending a realistic mix through the proxy, until `seconds` pass or `signal` aborts. Returns
 * the exit code: 0, or 1 when no request was answered.
 */
export async function runDemo(options: DemoOptions): Promise<number> {
  const clock = options.clock ?? systemClock;
  const temporary = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'wattledger-demo-')));
  const paths = demoPaths(dir);
  await prepareDemoDir(paths);
  const node = new DemoNode(clock, DEMO_ENGINES);
  const sink = new DaemonLogSink(paths.log);
  const stopDaemon = new AbortController();
  try {
    const servers = await node.start();
    const values = demoConfig({ ...options, paths, servers });
    await writeDemoConfig(paths.config, values);
    const { config } = await loadConfig({ file: paths.config, env: {} });
    const probes = options.realGpus ? undefined : () => demoProbes(node, config.meter.gpuIntervalMs);
    const logger = createLogger(config.log.level, sink);
    const daemon = runDaemon(config, clock, logger, stopDaemon.signal, undefined, probes);
    daemon.catch(() => {});
    await sink.until((e) => e.running && e.proxyUrl !== null && e.apiUrl !== null, daemon);
    const { proxyUrl, apiUrl } = sink.events as { proxyUrl: string; apiUrl: string };
    options.out.write(banner(paths, proxyUrl, apiUrl, options));
    const load = new DemoLoad({
      proxyUrl,
      engines: DEMO_ENGINES,
      requestsPerSecond: options.requestsPerSecond,
      seed: 1,
    });
    load.start();
    const started = Date.now();
    const line = () => progressText(Math.round((Date.now() - started) / 1000), load, sink, node);
    const progress = setInterval(() => {
      options.out.write(options.out.isTTY ? `\r${line()}\x1b[K` : `${line()}\n`);
    }, PROGRESS_MS);
    try {
      // The daemon ends early only on a failure (a ledger that cannot be written): it is rethrown.
      await Promise.race([stopped(options.signal, options.seconds), daemon]);
    } finally {
      clearInterval(progress);
      options.out.write(
        `${options.out.isTTY ? '\r\x1b[K' : ''}stopping: cancelling open requests, sealing the last window…\n`,
      );
      await load.stop();
    }
    stopDaemon.abort();
    await daemon;
    const outcome = load.progress();
    options.out.write(`${line()}\n${epilogue(paths, temporary, outcome.completed, outcome.firstFailure)}`);
    return outcome.completed > 0 ? 0 : 1;
  } finally {
    stopDaemon.abort();
    await node.close();
    sink.close();
    if (temporary) await rm(dir, { recursive: true, force: true });
  }
}

/** The probe selection of the simulated node, said to be simulated and why. */
async function demoProbes(node: DemoNode, intervalMs: number): Promise<ProbeSelection> {
  const inventory = await node.probe.open();
  return {
    opened: [{ probe: node.probe, inventory, intervalMs }],
    attempts: [
      {
        kind: 'simulated',
        role: 'gpu',
        outcome: 'used',
        reason: 'wattledger demo: a simulated 8-GPU node (pass --real-gpus to measure this host)',
        deviceCount: inventory.devices.length,
      },
    ],
    fatal: [],
  };
}

/** Resolves when `signal` aborts or `seconds` have passed. */
function stopped(signal: AbortSignal, seconds: number | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = seconds === undefined ? null : setTimeout(resolve, seconds * 1000);
    signal.addEventListener(
      'abort',
      () => {
        if (timer) clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

function banner(
  paths: ReturnType<typeof demoPaths>,
  proxyUrl: string,
  apiUrl: string,
  options: DemoOptions,
): string {
  const what = options.realGpus
    ? "this host's GPUs, measured; the model servers are SIMULATED"
    : 'a SIMULATED 8-GPU node: no real hardware is measured';
  return [
    `wattledger demo: ${what}`,
    `  dashboard  ${apiUrl}/dashboard/`,
    `  receipts   ${apiUrl}/dashboard/receipt.html`,
    `  proxy      ${proxyUrl}/v1/chat/completions  (OpenAI-compatible; models: ${DEMO_ENGINES.map((e) => e.model).join(', ')})`,
    `  files      ${paths.dir}  (config.yaml, ledger/, signing.key.pub, daemon.log)`,
    options.seconds === undefined
      ? '  Ctrl+C stops it.'
      : `  stops after ${options.seconds} s (Ctrl+C stops it sooner).`,
    '',
  ].join('\n');
}

function progressText(seconds: number, load: DemoLoad, sink: DaemonLogSink, node: DemoNode): string {
  const p = load.progress();
  const failed = p.failed > 0 ? ` · ${p.failed} failed` : '';
  return `${String(seconds).padStart(4)} s  requests ${p.sent} sent · ${p.completed} answered${failed} · ${p.inFlight} streaming  │  sealed ${sink.events.batches} batches · ${sink.events.records} records  │  node ${formatPower(node.probe.totalMilliWatts)}`;
}

function epilogue(
  paths: ReturnType<typeof demoPaths>,
  temporary: boolean,
  completed: number,
  firstFailure: string | null,
): string {
  const lines: string[] = [];
  if (firstFailure !== null) lines.push(`first failed request: ${firstFailure}`);
  if (completed === 0) lines.push('no request was answered: see the log above and daemon.log');
  if (temporary) {
    lines.push(
      'stopped; the temporary directory was removed (pass --dir D to keep the ledger and check it).',
    );
  } else {
    lines.push(
      `stopped. Everything is in ${paths.dir}. Check it:`,
      `  npx wattledger verify ${paths.ledger} --key ${paths.publicKey}`,
      `  npx wattledger report --config ${paths.config}`,
      `  npx wattledger receipt <x-wattledger-request-id> --config ${paths.config} --out receipt.json`,
      `  npx wattledger verify-receipt receipt.json --key ${paths.publicKey}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
