#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { registerLedgerCommands } from './cli/commands-ledger.js';
import { registerMeasureCommands } from './cli/commands-measure.js';
import { registerDemoCommand } from './cli/demo.js';
import { BaseError } from './errors.js';
import { VERSION } from './version.js';

/** Exit codes: 0 success, 1 the job failed (no devices, verification failed), 2 usage, config or I/O. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

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
  registerMeasureCommands(program, shutdownSignal);
  registerLedgerCommands(program);
  registerDemoCommand(program, shutdownSignal);
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
