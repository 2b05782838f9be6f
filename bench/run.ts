import { parseArgs } from 'node:util';
import { VERSION } from '../src/version.js';
import { benchAccuracy } from './accuracy.js';
import { benchExportCost } from './export-cost.js';
import { benchLedgerCost } from './ledger-cost.js';
import { type BenchResult, printTable, writeResults } from './lib/report.js';
import { benchMeterCost } from './meter-cost.js';
import { benchProxyCost } from './proxy-cost.js';
import { benchStartupCost } from './startup-cost.js';

/**
 * `npm run bench`: runs every benchmark, prints a table and writes bench/results/latest.json.
 * `--seconds N` sets the sampling-cost duration (default 60, the minimum); `--only NAME`
 * runs one group.
 */
const GROUPS: Readonly<
  Record<string, (seconds: number, log: (line: string) => void) => Promise<BenchResult[]>>
> = {
  meter: benchMeterCost,
  ledger: benchLedgerCost,
  proxy: benchProxyCost,
  accuracy: benchAccuracy,
  export: benchExportCost,
  startup: benchStartupCost,
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: process.env.BENCH_SECONDS ?? '60' },
      only: { type: 'string' },
    },
  });
  const seconds = Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new Error(`--seconds must be a positive number, got ${values.seconds}`);
  const names = values.only ? [values.only] : Object.keys(GROUPS);
  const results: BenchResult[] = [];
  for (const name of names) {
    const group = GROUPS[name];
    if (!group) throw new Error(`unknown benchmark group ${name}; known: ${Object.keys(GROUPS).join(', ')}`);
    results.push(...(await group(seconds, (line) => process.stderr.write(`bench: ${line}\n`))));
  }
  printTable(results);
  const file = writeResults(results, {
    version: VERSION,
    node: process.version,
    seconds,
    date: new Date().toISOString(),
  });
  process.stdout.write(`results written to ${file}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
