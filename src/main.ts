#!/usr/bin/env node
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { addCommonOptions, type CommonOptions, loadContext } from './cli/common.js';
import {
  KEYGEN_DESCRIPTION,
  RECEIPT_DESCRIPTION,
  VERIFY_DESCRIPTION,
  VERIFY_RECEIPT_DESCRIPTION,
} from './cli/descriptions.js';
import { systemClock } from './clock.js';
import { loadConfig } from './config/load.js';
import { BaseError } from './errors.js';
import { VERSION } from './version.js';

interface VerifyCliOptions {
  readonly key?: string[];
  readonly trustedKeys?: string;
  readonly checkpoint?: string[];
  readonly json?: boolean;
  readonly progress?: boolean;
  readonly fromSequence?: string;
  readonly engine?: 'node' | 'tweetnacl';
}

/** `run`'s own flags on top of the common ones. */
interface RunOptions extends CommonOptions {
  readonly ledgerDir?: string;
  readonly signingKey?: string;
  readonly batchIntervalMs?: string;
  readonly ledger?: boolean;
  readonly proxy?: boolean;
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
    ...(options.signingKey !== undefined ? { keys: { signingKeyPath: options.signingKey } } : {}),
  };
}

/** Exit codes: 0 success, 1 the job failed (no devices, verification failed), 2 usage, config or I/O. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0)
    throw new InvalidArgumentError('expected a positive integer');
  return Number(value);
}

/** Aborts on SIGTERM or SIGINT; a second signal exits at once. */
function shutdownSignal(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (name: string): void => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`\nwattledger: ${name} received, stopping (send again to exit at once)\n`);
    controller.abort();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  return controller.signal;
}

function buildProgram(): Command {
  const program = new Command('wattledger')
    .version(VERSION, '-V, --version')
    .description('Measured, signed, verifiable energy for GPU inference servers.')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  addCommonOptions(program.command('run'))
    .description(
      'run the daemon: sample GPU and host energy, seal signed batches into the ledger, until SIGTERM/SIGINT',
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
    .option('--proxy', 'run the measuring proxy in front of the inference servers (config proxy.enabled)')
    .option('--proxy-listen <host:port>', 'where the proxy listens (config proxy.listen)')
    .option(
      '--upstream <url...>',
      'an OpenAI-compatible server behind the proxy, on engine default (config proxy.upstreams)',
    )
    .action(async (options: RunOptions) => {
      const { config, logger } = await loadContext(options, process.env, {}, runFlags(options));
      await (await import('./cli/run.js')).runDaemon(
        config,
        systemClock,
        logger,
        shutdownSignal(),
        process.env.CREDENTIALS_DIRECTORY,
      );
    });

  program
    .command('keygen')
    .description(KEYGEN_DESCRIPTION)
    .requiredOption(
      '-o, --out <file>',
      'private key file to create (mode 0600); the public key goes to <file>.pub',
    )
    .option(
      '--name <origin>',
      'key name for checkpoints: the log origin (default: wattledger/<host id>, as the daemon uses)',
    )
    .option('--json', 'print the result as JSON')
    .action(async (options: { out: string; name?: string; json?: boolean }) => {
      const name =
        options.name ??
        `wattledger/${(await (await import('./probes/host-identity.js')).readHostIdentity({ timeoutMs: 5000 })).hostId}`;
      await (await import('./cli/keygen.js')).runKeygen({ ...options, name }, process.stdout);
    });

  program
    .command('verify')
    .description(VERIFY_DESCRIPTION)
    .argument('<paths...>', 'a ledger directory, or ledger-NNNNNN.jsonl segments and checkpoint .note files')
    .option(
      '-k, --key <key...>',
      'trusted public key: raw base64, PEM, C2SP verifier key, or a file holding one',
    )
    .option('--trusted-keys <file>', 'trusted-keys JSON with validity windows (as printed by keygen)')
    .option('--checkpoint <file...>', 'extra signed checkpoint notes')
    .option('--json', 'print the report as JSON')
    .option('--progress', 'show progress on stderr (default: when stderr is a terminal)')
    .option('--no-progress', 'never show progress')
    .option('--from-sequence <n>', 'the ledger starts at this batch (verifying a tail)')
    .addOption(
      new Option('--engine <engine>', 'signature engine').choices(['node', 'tweetnacl']).default('node'),
    )
    .action(async (paths: string[], options: VerifyCliOptions) => {
      process.exitCode = await (await import('./cli/verify.js')).runVerify(
        {
          paths,
          keys: options.key ?? [],
          trustedKeysFile: options.trustedKeys,
          checkpoints: options.checkpoint,
          json: options.json,
          progress: options.progress,
          fromSequence: options.fromSequence,
          engine: options.engine,
        },
        { stdout: process.stdout, stderr: process.stderr },
      );
    });

  program
    .command('receipt')
    .description(RECEIPT_DESCRIPTION)
    .argument('<request-id>', 'the request id (returned to clients in the x-wattledger-request-id header)')
    .option('-c, --config <file>', 'configuration file, for ledger.dir')
    .option('--ledger-dir <dir>', 'ledger directory (config ledger.dir)')
    .option('-o, --out <file>', 'write the receipt here (never overwritten) instead of stdout')
    .action(async (requestId: string, options: { config?: string; ledgerDir?: string; out?: string }) => {
      const { config } = await loadConfig({
        file: options.config,
        env: process.env,
        flags: options.ledgerDir ? { ledger: { dir: options.ledgerDir } } : {},
      });
      process.exitCode = await (await import('./cli/receipt.js')).runReceipt(
        { requestId, ledgerDir: config.ledger.dir, out: options.out },
        { stdout: process.stdout, stderr: process.stderr },
      );
    });

  program
    .command('verify-receipt')
    .description(VERIFY_RECEIPT_DESCRIPTION)
    .argument('<file>', 'a receipt written by `wattledger receipt`')
    .option(
      '-k, --key <key...>',
      'trusted public key in any form, or a file holding one or a trusted-keys document',
    )
    .option('--json', 'print the report as JSON')
    .action(async (file: string, options: { key?: string[]; json?: boolean }) => {
      process.exitCode = await (await import('./cli/receipt.js')).runVerifyReceipt(
        { file, keys: options.key ?? [], json: options.json },
        { stdout: process.stdout, stderr: process.stderr },
      );
    });

  addCommonOptions(program.command('probe'))
    .description(
      'show what this host has: each probe, why any was skipped, the devices found and two readings',
    )
    .option('--json', 'print the report as JSON')
    .option('--sample-ms <ms>', 'time between the two readings', positiveInt, 500)
    .action(async (options: CommonOptions & { json?: boolean; sampleMs: number }) => {
      const { config } = await loadContext(options, process.env, { log: { level: 'warn' } });
      const { buildProbeReport } = await import('./cli/probe-report.js');
      const { noGpuError, renderProbeJson, renderProbeText } = await import('./cli/probe.js');
      const { readHostIdentity } = await import('./probes/host-identity.js');
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
    .description('show live power and energy per device, updating in place (Ctrl+C to stop)')
    .option('--refresh-ms <ms>', 'screen refresh interval', positiveInt, 1000)
    .option('--frames <n>', 'stop after this many refreshes', positiveInt)
    .action(async (options: CommonOptions & { refreshMs: number; frames?: number }) => {
      const { config } = await loadContext(options, process.env, { log: { level: 'warn' } });
      await (await import('./cli/watch.js')).runWatch(config, systemClock, {
        refreshMs: options.refreshMs,
        ...(options.frames !== undefined ? { frames: options.frames } : {}),
        signal: shutdownSignal(),
        out: process.stdout,
      });
    });
  return program;
}

/** Prints an error for a person and returns the exit code it maps to. */
function report(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE;
  if (!(error instanceof BaseError)) {
    process.stderr.write(
      `wattledger: INTERNAL: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return EXIT_FAILURE;
  }
  const hint = (error as { hint?: unknown }).hint;
  process.stderr.write(
    `wattledger: ${error.code}: ${error.message}\n${typeof hint === 'string' ? `hint: ${hint}\n` : ''}`,
  );
  return usageCodes.has(error.code) || /^(CONFIG|KEY)_/.test(error.code) ? EXIT_USAGE : EXIT_FAILURE;
}

/** Errors a person fixes in the command, the configuration or the file system: exit 2. */
const usageCodes = new Set(['CLI_USAGE', 'CLI_IO', 'LEDGER_IO', 'LEDGER_LOCKED']);

buildProgram()
  .parseAsync(process.argv)
  .then(
    () => process.exit(process.exitCode ?? 0),
    (error: unknown) => process.exit(report(error)),
  );
