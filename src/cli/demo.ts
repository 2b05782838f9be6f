import { type Command, InvalidArgumentError } from 'commander';

/** `wattledger demo`: the whole product on a simulated node (src/demo). Loads its modules when it runs. */

interface DemoCliOptions {
  readonly dir?: string;
  readonly seconds?: number;
  readonly apiListen: string;
  readonly proxyListen: string;
  readonly rate: number;
  readonly batchIntervalMs: number;
  readonly realGpus?: boolean;
}

function positive(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0)
    throw new InvalidArgumentError('expected a positive number');
  return Number(value);
}

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0)
    throw new InvalidArgumentError('expected a positive integer');
  return Number(value);
}

/** Registers `demo`; `shutdownSignal` aborts on SIGTERM/SIGINT. */
export function registerDemoCommand(program: Command, shutdownSignal: () => AbortSignal): void {
  program
    .command('demo')
    .description(
      'run everything on a SIMULATED 8-GPU node: model servers, load through the measuring proxy, signed ledger, dashboard (Ctrl+C to stop)',
    )
    .option(
      '--dir <dir>',
      'keep the ledger, keys, config and log here (default: a temporary directory, removed at exit)',
    )
    .option('--seconds <n>', 'stop after this many seconds', positiveInt)
    .option('--api-listen <host:port>', 'where the API and the dashboard listen', '127.0.0.1:9464')
    .option('--proxy-listen <host:port>', 'where the measuring proxy listens', '127.0.0.1:8080')
    .option('--rate <n>', 'mean requests per second of the load generator', positive, 6)
    .option('--batch-interval-ms <ms>', 'seal a batch (and a checkpoint) this often', positiveInt, 2000)
    .option(
      '--real-gpus',
      "measure this host's GPUs instead of simulated ones (the model servers stay simulated)",
    )
    .addHelpText(
      'after',
      '\nWith --dir D, afterwards: wattledger verify D/ledger --key D/signing.key.pub; receipt and report take --config D/config.yaml.\n',
    )
    .action(async (options: DemoCliOptions) => {
      const { runDemo } = await import('../demo/run.js');
      process.exitCode = await runDemo({
        dir: options.dir,
        seconds: options.seconds,
        apiListen: options.apiListen,
        proxyListen: options.proxyListen,
        requestsPerSecond: options.rate,
        batchIntervalMs: options.batchIntervalMs,
        realGpus: options.realGpus === true,
        signal: shutdownSignal(),
        out: process.stdout,
      });
    });
}
