import { type Command, InvalidArgumentError } from 'commander';
import { systemClock } from '../clock.js';
import { addCommonOptions, type CommonOptions, loadContext } from './common.js';
import type { Shutdown } from './shutdown.js';

/** The measuring commands: `run` (the daemon), `probe` and `watch`. Each loads its modules when it runs. */

/** `run`'s own flags on top of the common ones. */
interface RunOptions extends CommonOptions {
  readonly ledgerDir?: string;
  readonly signingKey?: string;
  readonly batchIntervalMs?: string;
  readonly ledger?: boolean;
  readonly proxy?: boolean;
  readonly otlp?: boolean;
  /** `--prometheus` alone: true; with an address: that address. */
  readonly prometheus?: boolean | string;
  /** `--spans` alone: true; with an address: that address. */
  readonly spans?: boolean | string;
  readonly proxyListen?: string;
  readonly api?: boolean;
  readonly apiListen?: string;
  readonly upstream?: string[];
}

function runFlags(options: RunOptions): Record<string, unknown> {
  const ledger: Record<string, unknown> = {};
  if (options.ledgerDir !== undefined) ledger.dir = options.ledgerDir;
  if (options.batchIntervalMs !== undefined) {
    ledger.batchIntervalMs = /^\d+$/.test(options.batchIntervalMs)
      ? Number(options.batchIntervalMs)
      : options.batchIntervalMs;
  }
  if (options.ledger === false) ledger.enabled = false;
  const proxy: Record<string, unknown> = {};
  if (options.proxy) proxy.enabled = true;
  if (options.proxyListen !== undefined) proxy.listen = options.proxyListen;
  if (options.upstream !== undefined) {
    proxy.upstreams = options.upstream.map((url, i) => ({
      name: i === 0 ? 'upstream' : `upstream-${i + 1}`,
      url,
    }));
  }
  const api: Record<string, unknown> = {};
  if (options.api === false) api.enabled = false;
  if (options.apiListen !== undefined) api.listen = options.apiListen;
  return {
    ledger,
    proxy,
    api,
    ...(options.otlp ? { otlp: { enabled: true } } : {}),
    ...(options.prometheus !== undefined && options.prometheus !== false
      ? {
          prometheus: {
            enabled: true,
            ...(typeof options.prometheus === 'string' ? { listen: options.prometheus } : {}),
          },
        }
      : {}),
    ...(options.spans !== undefined && options.spans !== false
      ? { spans: { enabled: true, ...(typeof options.spans === 'string' ? { listen: options.spans } : {}) } }
      : {}),
    ...(options.signingKey !== undefined ? { keys: { signingKeyPath: options.signingKey } } : {}),
  };
}

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0)
    throw new InvalidArgumentError('expected a positive integer');
  return Number(value);
}

/** Registers `run`, `probe` and `watch`; `shutdown` installs the SIGTERM/SIGINT handling (src/cli/shutdown.ts). */
export function registerMeasureCommands(program: Command, shutdown: () => Shutdown): void {
  addCommonOptions(program.command('run'))
    .description(
      'run the daemon: sample GPU and host energy, seal signed batches into the ledger, until SIGTERM/SIGINT (which seals everything acknowledged; a second signal stops waiting for open requests, a third exits without the last batch). Exit 0, 1 no GPU, 2 usage, configuration, key or I/O (also a final seal that failed)',
    )
    .option('--ledger-dir <dir>', 'ledger directory (config ledger.dir)')
    .option(
      '--signing-key <file>',
      'Ed25519 private key from `wattledger keygen` (config keys.signingKeyPath)',
    )
    .option('--batch-interval-ms <ms>', 'seal a batch every this many ms (config ledger.batchIntervalMs)')
    .option('--no-ledger', 'measure and log only; sign and store nothing (config ledger.enabled)')
    .option('--api-listen <host:port>', 'where the read-only ledger API listens (config api.listen)')
    .option('--no-api', 'do not serve the ledger API (config api.enabled)')
    .option(
      '--otlp',
      'export metrics and the signed ledger over OTLP/HTTP (config otlp.enabled; endpoint from OTEL_EXPORTER_OTLP_ENDPOINT)',
    )
    .option(
      '--prometheus [host:port]',
      'serve the metrics for Prometheus to scrape at /metrics, on host:port if given (config prometheus.enabled, prometheus.listen)',
    )
    .option(
      '--spans [host:port]',
      'take OTLP/HTTP span exports from vLLM, SGLang and TGI at /v1/traces, on host:port if given (config spans.enabled, spans.listen)',
    )
    .option('--proxy', 'run the measuring proxy in front of the inference servers (config proxy.enabled)')
    .option('--proxy-listen <host:port>', 'where the proxy listens (config proxy.listen)')
    .option(
      '--upstream <url...>',
      'an OpenAI-compatible server behind the proxy, on engine default (config proxy.upstreams)',
    )
    .action(async (options: RunOptions) => {
      const { config, logger } = await loadContext(options, process.env, {}, runFlags(options));
      const { signal, hurry } = shutdown();
      await (await import('./run.js')).runDaemon(
        config,
        systemClock,
        logger,
        signal,
        process.env.CREDENTIALS_DIRECTORY,
        undefined,
        hurry,
      );
    });

  addCommonOptions(program.command('probe'))
    .description(
      'show what this host has: each probe, why any was skipped, the devices found, two readings and the idle baseline each GPU would start from',
    )
    .option('--json', 'print the report as JSON')
    .option('--sample-ms <ms>', 'time between the two readings', positiveInt, 500)
    .action(async (options: CommonOptions & { json?: boolean; sampleMs: number }) => {
      const { config } = await loadContext(options, process.env, { log: { level: 'warn' } });
      const { buildProbeReport } = await import('./probe-report.js');
      const { noGpuError, renderProbeJson, renderProbeText } = await import('./probe.js');
      const { readHostIdentity } = await import('../probes/host-identity.js');
      const [report, host] = await Promise.all([
        buildProbeReport(config, systemClock, options.sampleMs),
        readHostIdentity({ timeoutMs: 5000 }),
      ]);
      process.stdout.write(
        `${options.json ? renderProbeJson(report, { ...host }) : renderProbeText(report, { ...host })}\n`,
      );
      if (report.gpuCount === 0 && config.probes.gpu !== 'none') throw noGpuError(report);
    });

  addCommonOptions(program.command('watch'))
    .description(
      'show live power and energy per device, and the idle baseline each GPU would start from, updating in place (Ctrl+C to stop)',
    )
    .option('--refresh-ms <ms>', 'screen refresh interval', positiveInt, 1000)
    .option('--frames <n>', 'stop after this many refreshes', positiveInt)
    .action(async (options: CommonOptions & { refreshMs: number; frames?: number }) => {
      const { config } = await loadContext(options, process.env, { log: { level: 'warn' } });
      await (await import('./watch.js')).runWatch(config, systemClock, {
        refreshMs: options.refreshMs,
        ...(options.frames !== undefined ? { frames: options.frames } : {}),
        signal: shutdown().signal,
        out: process.stdout,
      });
    });
}
