#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { registerLedgerCommands } from './cli/commands-ledger.js';
import { registerMeasureCommands } from './cli/commands-measure.js';
import { registerDemoCommand } from './cli/demo.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, exitCodeOf } from './cli/exit-codes.js';
import { installShutdown, type Shutdown } from './cli/shutdown.js';
import { BaseError, CliError } from './errors.js';
import { VERSION } from './version.js';

/** Exit codes (src/cli/exit-codes.ts): 0 success, 1 the job failed, 2 usage, config, key or I/O. */

let shutdown: Shutdown | undefined;
/** SIGTERM / SIGINT handling, installed by the first command that needs it (src/cli/shutdown.ts). */
function shutdownSignals(): Shutdown {
  shutdown ??= installShutdown(
    process,
    (line) => process.stderr.write(`\nwattledger: ${line}\n`),
    (code) => process.exit(code),
  );
  return shutdown;
}

function buildProgram(): Command {
  const program = new Command('wattledger')
    .version(VERSION, '-V, --version')
    .description('Measured, signed, verifiable energy for GPU inference servers.')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      // Commander's own usage errors in the shape of every other error: "wattledger: CODE: message".
      outputError: (text, write) => write(`wattledger: CLI_USAGE: ${text.replace(/^error: /, '')}`),
    })
    .exitOverride();
  registerMeasureCommands(program, shutdownSignals);
  registerLedgerCommands(program);
  registerDemoCommand(program, () => shutdownSignals().signal);
  return program;
}

/**
 * A command name that is not one (`wattledger witness --help`) is a usage error, before Commander
 * sees the `--help` after it and prints the main help with exit 0.
 */
function unknownCommand(program: Command, args: readonly string[]): CliError | null {
  const names = new Set(program.commands.flatMap((c) => [c.name(), ...c.aliases()]));
  const words = args.filter((a) => !a.startsWith('-'));
  const [first, second] = words;
  const wanted = first === 'help' ? second : first;
  if (wanted === undefined || names.has(wanted)) return null;
  return new CliError('CLI_USAGE', `unknown command '${wanted}'`, {
    hint: `the commands are ${[...names].join(', ')}; run wattledger --help`,
  });
}

/** Prints an error for a person and returns the exit code it maps to. */
function report(error: unknown): number {
  if (error instanceof CommanderError) {
    // --help and --version "fail" with exit code 0; a help shown for a missing command is usage.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT_OK;
    return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
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
  return exitCodeOf(error.code);
}

const program = buildProgram();
const args = process.argv.slice(2);
const unknown = unknownCommand(program, args);
(unknown ? Promise.reject(unknown) : program.parseAsync(process.argv)).then(
  () => process.exit(process.exitCode ?? EXIT_OK),
  (error: unknown) => process.exit(report(error)),
);
