import { type Command, Option } from 'commander';
import { loadConfig } from '../config/load.js';
import { CliError } from '../errors.js';
import {
  KEYGEN_DESCRIPTION,
  RECEIPT_DESCRIPTION,
  REPORT_DESCRIPTION,
  VERIFY_DESCRIPTION,
  VERIFY_RECEIPT_DESCRIPTION,
} from './descriptions.js';

/** The ledger commands: `keygen`, `verify`, `receipt`, `verify-receipt`, `report`. Each loads its modules when it runs. */

interface VerifyCliOptions {
  readonly key?: string[];
  readonly trustedKeys?: string;
  readonly checkpoint?: string[];
  readonly json?: boolean;
  readonly progress?: boolean;
  readonly fromSequence?: string;
  readonly engine?: 'node' | 'tweetnacl';
}

interface ReportCommandOptions {
  readonly config?: string;
  readonly ledgerDir?: string;
  readonly from?: string;
  readonly to?: string;
  readonly model?: string;
  readonly engine?: string;
  readonly key?: string[];
  readonly trustedKeys?: string;
  readonly json?: boolean;
  readonly progress?: boolean;
}

/** `--wait` alone: 180 s; with a value: that many seconds. */
function waitSeconds(wait: boolean | string | undefined): number | undefined {
  if (wait === undefined || wait === false) return undefined;
  if (wait === true) return 180;
  if (!/^\d+$/.test(wait))
    throw new CliError('CLI_USAGE', `--wait takes a whole number of seconds, not ${JSON.stringify(wait)}`);
  return Number(wait);
}

/** Registers `keygen`, `verify`, `receipt`, `verify-receipt` and `report`. */
export function registerLedgerCommands(program: Command): void {
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
        `wattledger/${(await (await import('../probes/host-identity.js')).readHostIdentity({ timeoutMs: 5000 })).hostId}`;
      await (await import('./keygen.js')).runKeygen({ ...options, name }, process.stdout);
    });

  program
    .command('verify')
    .description(VERIFY_DESCRIPTION)
    .argument(
      '<paths...>',
      "ledger directories (each verified on its own, with a summary per ledger), or one ledger's ledger-NNNNNN.jsonl segments and checkpoint .note files",
    )
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
      process.exitCode = await (await import('./verify.js')).runVerify(
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
    .option(
      '--wait [seconds]',
      'wait until the record is sealed and a checkpoint covers it (default up to 180 s)',
    )
    .action(
      async (
        requestId: string,
        options: { config?: string; ledgerDir?: string; out?: string; wait?: boolean | string },
      ) => {
        const { config } = await loadConfig({
          file: options.config,
          env: process.env,
          flags: options.ledgerDir ? { ledger: { dir: options.ledgerDir } } : {},
        });
        process.exitCode = await (await import('./receipt.js')).runReceipt(
          {
            requestId,
            ledgerDir: config.ledger.dir,
            out: options.out,
            waitSeconds: waitSeconds(options.wait),
          },
          { stdout: process.stdout, stderr: process.stderr },
        );
      },
    );

  program
    .command('report')
    .description(REPORT_DESCRIPTION)
    .option('-c, --config <file>', 'configuration file, for ledger.dir')
    .option('--ledger-dir <dir>', 'ledger directory (config ledger.dir)')
    .option(
      '--from <time>',
      'first request end time, inclusive: RFC 3339, a date (UTC midnight), now, or a duration ago (30m, 24h, 7d, 2w); default: the start',
    )
    .option('--to <time>', 'end of the window, exclusive, in the same forms; default: the end')
    .option('--model <model>', 'only requests of this model')
    .option('--engine <engine>', 'only requests of this engine id')
    .option(
      '-k, --key <key...>',
      'verify the batches with this trusted public key (any form, or a file holding one)',
    )
    .option('--trusted-keys <file>', 'verify the batches with a trusted-keys JSON document')
    .option('--json', 'print the report as JSON (docs/REPORT.md, reportVersion 1)')
    .option('--progress', 'show progress on stderr (default: when stderr is a terminal)')
    .option('--no-progress', 'never show progress')
    .action(async (options: ReportCommandOptions) => {
      const { config } = await loadConfig({
        file: options.config,
        env: process.env,
        flags: options.ledgerDir ? { ledger: { dir: options.ledgerDir } } : {},
      });
      process.exitCode = await (await import('./report.js')).runReport(
        {
          ledgerDir: config.ledger.dir,
          from: options.from,
          to: options.to,
          json: options.json,
          keys: options.key,
          trustedKeysFile: options.trustedKeys,
          model: options.model,
          engine: options.engine,
          progress: options.progress,
        },
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
    .option(
      '--checkpoint <file>',
      "a signed checkpoint you kept: the receipt's log must be consistent with it",
    )
    .option(
      '--consistency-proof <file>',
      "the consistency proof between that checkpoint and the receipt's (JSON of GET /v1/proofs/consistency), when their sizes differ",
    )
    .action(
      async (
        file: string,
        options: { key?: string[]; json?: boolean; checkpoint?: string; consistencyProof?: string },
      ) => {
        process.exitCode = await (await import('./receipt.js')).runVerifyReceipt(
          {
            file,
            keys: options.key ?? [],
            json: options.json,
            checkpoint: options.checkpoint,
            consistencyProof: options.consistencyProof,
          },
          { stdout: process.stdout, stderr: process.stderr },
        );
      },
    );
}
