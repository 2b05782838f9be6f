import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One benchmark figure: a name, a value with its unit, and the goal it is judged against. */
export interface BenchResult {
  readonly scenario: string;
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  readonly goal?: string;
  readonly pass?: boolean;
  readonly note?: string;
}

/** The repository root (bench runs from dist/bench, sources are in bench/). */
export const REPO_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (dir !== '/' && !dir.endsWith('/dist')) dir = dirname(dir);
  return dir === '/' ? process.cwd() : dirname(dir);
})();

/** Prints a table to stdout. */
export function printTable(results: readonly BenchResult[]): void {
  const rows = [
    ['scenario', 'metric', 'value', 'goal', 'ok'],
    ...results.map((r) => [
      r.scenario,
      r.metric,
      `${formatValue(r.value)} ${r.unit}`,
      r.goal ?? '',
      r.pass === undefined ? '' : r.pass ? 'yes' : 'NO',
    ]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  for (const [index, row] of rows.entries()) {
    process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')}\n`);
    if (index === 0) process.stdout.write(`${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  }
  for (const r of results) if (r.note) process.stdout.write(`note (${r.scenario} ${r.metric}): ${r.note}\n`);
}

/** Writes results as JSON under bench/results/ (latest.json and a timestamped copy). */
export function writeResults(results: readonly BenchResult[], meta: Record<string, unknown>): string {
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const body = `${JSON.stringify({ ...meta, results }, null, 2)}\n`;
  const stamp = new Date().toISOString().replaceAll(':', '-');
  writeFileSync(join(dir, `bench-${stamp}.json`), body);
  const latest = join(dir, 'latest.json');
  writeFileSync(latest, body);
  return latest;
}

function formatValue(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(1) : value.toPrecision(3);
}
