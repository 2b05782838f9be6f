import { countText, energyText, joulesText, massText, percentText, volumeText } from './display-units.js';
import type { BoundaryStats, Comparison, ModelStats, PerTokenStats, Report, Stats } from './report-types.js';

/** The report for a person: one table per model and boundary, the totals, the comparison, the boundary. */

const SIMULATED =
  'SIMULATED GPUs: some of these records come from simulated hardware; their energy measures nothing real.';
const BOUNDARY_TITLE = {
  active: "ACTIVE boundary (the engine's accelerators while working; no idle, host or PUE)",
  comprehensive: 'COMPREHENSIVE boundary (active + idle share + host, × PUE)',
} as const;

export function renderReportText(report: Report, ledgerDir: string): string {
  const out: string[] = [`wattledger report of ${ledgerDir}`];
  out.push(...header(report), '');
  if (report.totals.requests === 0) {
    out.push(emptyText(report), '');
  } else {
    for (const model of report.models) out.push(...statsBlock(modelTitle(model), model), '');
    out.push(...statsBlock('ALL MODELS', report.totals), '');
    out.push(...comparisonText(report.comparison, report.models));
  }
  out.push(...wrap(report.boundaryNote, 100));
  return `${out.join('\n')}\n`;
}

function header(report: Report): string[] {
  const { ledger, verification: v, window } = report;
  const lines = [
    `origin     ${ledger.origin ?? '(no batch read)'}`,
    `window     ${window.from ?? 'the start'} … ${window.to ?? 'the end'} (requests by end time; from inclusive, to exclusive)`,
  ];
  const filters = [
    ...(report.filters.model === null ? [] : [`model ${report.filters.model}`]),
    ...(report.filters.engineId === null ? [] : [`engine ${report.filters.engineId}`]),
  ];
  if (filters.length > 0) lines.push(`filter     ${filters.join(', ')}`);
  lines.push(
    `ledger     ${countText(ledger.batchesRead)} batches, ${countText(ledger.recordsSealed)} sealed request records, ${countText(ledger.recordsInReport)} in this report`,
  );
  if (v.status === 'verified')
    lines.push(
      `integrity  VERIFIED: all ${countText(v.batches)} batches with the given keys (${v.checkpointsVerified} checkpoints); records are bound to their batches by Merkle root`,
    );
  else if (v.status === 'failed') {
    lines.push(
      `integrity  VERIFICATION FAILED: ${v.findings} finding${v.findings === 1 ? '' : 's'}; these figures may not be what was signed (\`wattledger verify\` lists all)`,
    );
    lines.push(...v.firstFindings.slice(0, 5).map((f) => `           ${f}`));
  } else
    lines.push(
      "integrity  NOT VERIFIED: no --key or --trusted-keys given; figures are as stored on disk (records matched to their batches' Merkle roots, signatures not checked)",
    );
  if (ledger.simulated) lines.push(`WARNING: ${SIMULATED}`);
  if (ledger.batchesMissingRecords > 0)
    lines.push(
      `warning: ${ledger.batchesMissingRecords} batches commit to request records the record log does not hold; those requests are missing here`,
    );
  if (ledger.batchesUnreadable > 0)
    lines.push(
      `warning: ${ledger.batchesUnreadable} batch lines could not be read; run \`wattledger verify\``,
    );
  if (ledger.recordsUnreadable > 0)
    lines.push(
      `warning: ${ledger.recordsUnreadable} sealed records are not request energy records and are left out`,
    );
  for (const warning of ledger.warnings) lines.push(`warning: ${warning}`);
  return lines;
}

function emptyText(report: Report): string {
  const filtered = report.filters.model !== null || report.filters.engineId !== null;
  return `No sealed request record ended in this window${filtered ? ' and matched the filter' : ''}: nothing to summarise.`;
}

function modelTitle(model: ModelStats): string {
  return `MODEL ${model.model ?? '(unnamed)'} on engine ${model.engineId}`;
}

function statsBlock(title: string, stats: Stats): string[] {
  const outcomes = Object.entries(stats.outcomes)
    .map(([name, count]) => `${name} ${countText(count)}`)
    .join(', ');
  const t = stats.tokens;
  const lines = [
    `${title}: ${countText(stats.requests)} request${stats.requests === 1 ? '' : 's'} (${outcomes}); ${percentText(stats.estimatedShare)} estimated`,
    `  tokens: input ${countText(BigInt(t.inputTokens))} (cached ${countText(BigInt(t.cachedInputTokens))}), output ${countText(BigInt(t.outputTokens))}${tokenGaps(stats)}`,
    ...boundaryTable(stats.active, stats.requests),
  ];
  if (stats.comprehensive === null)
    lines.push('  COMPREHENSIVE boundary: not in these records (they carry it as null); not estimated here');
  else lines.push(...boundaryTable(stats.comprehensive, stats.requests));
  return lines;
}

function tokenGaps(stats: Stats): string {
  const missing = stats.requests - stats.tokens.requestsWithOutputTokens;
  if (missing === 0) return '';
  return `; ${countText(missing)} request${missing === 1 ? '' : 's'} without an output token count`;
}

function boundaryTable(b: BoundaryStats, requests: number): string[] {
  const coverage =
    b.requests === requests
      ? ''
      : ` — ${countText(b.requests)} of ${countText(requests)} requests carry it; figures cover those only`;
  const per = b.perRequest;
  const rows: string[][] = [
    ['', 'overall', 'p50', 'p90', 'p99'],
    per === null
      ? ['per request', '-', '-', '-', '-']
      : [
          'per request',
          `${energyText(BigInt(per.meanMicroJoules))} mean`,
          energyText(BigInt(per.p50MicroJoules)),
          energyText(BigInt(per.p90MicroJoules)),
          energyText(BigInt(per.p99MicroJoules)),
        ],
    tokenRow('per input token', b.perInputToken),
    tokenRow('per output token', b.perOutputToken),
  ];
  const impacts = [
    `total ${energyText(BigInt(b.energyMicroJoules))}`,
    impactText('CO2e (location-based)', b.co2eLocationMicrograms, massText, b.requests),
    // Market-based figures exist only where the operator supplied them; absent means not configured.
    ...(b.co2eMarketMicrograms === null
      ? []
      : [impactText('CO2e (market-based, operator-supplied)', b.co2eMarketMicrograms, massText, b.requests)]),
    impactText('water', b.waterMicroliters, volumeText, b.requests),
  ];
  const approximate =
    b.percentiles === 'approximate'
      ? ['    p50/p90/p99 are approximate (within 0.5 %): over a million values were bucketed']
      : [];
  return [
    `  ${BOUNDARY_TITLE[b.boundary]}${coverage}`,
    table(rows, '    '),
    ...approximate,
    `    ${impacts.join(' · ')}`,
  ];
}

function tokenRow(label: string, t: PerTokenStats): string[] {
  const p = t.perRequestJoulesPerToken;
  if (t.joulesPerToken === null || p === null) return [label, '-', '-', '-', '-'];
  return [label, joulesText(t.joulesPerToken), joulesText(p.p50), joulesText(p.p90), joulesText(p.p99)];
}

function impactText(
  label: string,
  impact: { total: string; requests: number } | null,
  format: (value: bigint) => string,
  requests: number,
): string {
  if (impact === null) return `${label} unknown (no factor in these records)`;
  const partial =
    impact.requests === requests ? '' : ` (${countText(impact.requests)} of ${countText(requests)} requests)`;
  return `${label} ${format(BigInt(impact.total))}${partial}`;
}

function comparisonText(comparison: Comparison | null, models: readonly ModelStats[]): string[] {
  if (comparison === null) return [];
  const name = (m: { model: string | null; engineId: string }) =>
    `${m.model ?? '(unnamed)'} on ${m.engineId}`;
  const base = comparison.baseline;
  const perToken = (m: { model: string | null; engineId: string }) =>
    models.find((x) => x.model === m.model && x.engineId === m.engineId)?.active.perOutputToken
      .joulesPerToken ?? null;
  const lines = ['Energy per output token, active boundary, on this ledger:'];
  for (const entry of comparison.entries) {
    if (entry.model === base.model && entry.engineId === base.engineId) continue;
    lines.push(
      `  ${name(entry)} used ${entry.ratio.toFixed(2)}× the energy per output token of ${name(base)} (${joulesText(perToken(entry) ?? 0)} vs ${joulesText(perToken(base) ?? 0)})`,
    );
  }
  lines.push(
    ...wrap(
      'This compares the requests each model actually served here; their prompts, output lengths, batching and GPUs differ, so it is not a benchmark of the models. A small model that saves energy per token saves it only on the tasks it handles well enough.',
      98,
    ).map((line) => `  ${line}`),
    '',
  );
  return lines;
}

/** Pads columns: each row an array of cells, columns separated by two spaces. */
function table(rows: readonly (readonly string[])[], indent: string): string {
  const widths: number[] = [];
  for (const row of rows)
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  return rows
    .map(
      (row) =>
        indent +
        row
          .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
          .join('  '),
    )
    .join('\n');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line.length > 0 && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line.length === 0 ? word : `${line} ${word}`;
  }
  if (line.length > 0) lines.push(line);
  return lines;
}
