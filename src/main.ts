#!/usr/bin/env node
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { addCommonOptions, type CommonOptions, loadContext } from './cli/common.js';
import { noGpuError, renderProbeJson, renderProbeText } from './cli/probe.js';
import { buildProbeReport } from './cli/probe-report.js';
import { runDaemon } from './cli/run.js';
import { runWatch } from './cli/watch.js';
import { systemClock } from './clock.js';
import { BaseError, CliError, ConfigError, describeError } from './errors.js';
import { readHostIdentity } from './probes/host-identity.js';
import { VERSION } from './version.js';

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
      'run the daemon: sample GPU and host energy until SIGTERM/SIGINT, logging JSON lines to stderr',
    )
    .action(async (options: CommonOptions) => {
      const { config, logger } = await loadContext(options, process.env);
      await runDaemon(config, systemClock, logger, shutdownSignal());
    });

  addCommonOptions(program.command('probe'))
    .description(
      'show what this host has: each probe, why any was skipped, the devices found and two readings',
    )
    .option('--json', 'print the report as JSON')
    .option('--sample-ms <ms>', 'time between the two readings', positiveInt, 500)
    .action(async (options: CommonOptions & { json?: boolean; sampleMs: number }) => {
      const { config } = await loadContext(options, process.env, { log: { level: 'warn' } });
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
      await runWatch(config, systemClock, {
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
  if (error instanceof ConfigError) {
    process.stderr.write(`wattledger: ${error.code}: ${error.message}\n`);
    return EXIT_USAGE;
  }
  if (error instanceof CliError) {
    process.stderr.write(
      `wattledger: ${error.code}: ${error.message}\n${error.hint ? `hint: ${error.hint}\n` : ''}`,
    );
    return error.code === 'CLI_USAGE' || error.code === 'CLI_IO' ? EXIT_USAGE : EXIT_FAILURE;
  }
  const code = error instanceof BaseError ? '' : 'INTERNAL: ';
  process.stderr.write(`wattledger: ${code}${describeError(error)}\n`);
  return EXIT_FAILURE;
}

buildProgram()
  .parseAsync(process.argv)
  .then(
    () => process.exit(0),
    (error: unknown) => process.exit(report(error)),
  );
