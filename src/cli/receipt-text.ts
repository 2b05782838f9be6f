import { energyText, massText, volumeText } from '../report/display-units.js';
import type { ReceiptReport } from '../verify/receipt.js';
import { renderReceiptChecks } from '../verify/receipt-checks.js';
import { SIMULATED_BANNER } from './format.js';

/**
 * `verify-receipt`'s text: the verdict, each check in words (the receipt page shows the same
 * list), and the record's figures one per line. `--json` prints the report itself instead.
 */
export function renderReceiptText(report: ReceiptReport): string {
  const lines: string[] = [];
  if (report.ok) {
    lines.push(`VERIFIED: request ${report.requestId} is in batch ${report.sequence} of ${report.origin}`);
    if (report.simulated) lines.push(SIMULATED_BANNER);
  } else {
    lines.push(`FAILED: the receipt of request ${report.requestId ?? '(unreadable)'} does not verify`);
  }
  lines.push('checks:', ...renderReceiptChecks(report));
  if (report.record !== null) {
    lines.push(
      report.ok ? 'record (signed):' : 'record (as claimed, NOT verified):',
      ...recordLines(report.record),
    );
  }
  return `${lines.join('\n')}\n`;
}

type Impact = Readonly<Record<string, unknown>> | null | undefined;

function recordLines(record: Readonly<Record<string, unknown>>): string[] {
  const out: string[] = [];
  const row = (name: string, value: string | null) => {
    if (value !== null) out.push(`  ${name.padEnd(14)}${value}`);
  };
  row('model', str(record.model));
  row('engine', str(record.engineId));
  row('ended', str(record.endedAt));
  row('tokens', `${record.inputTokens ?? '?'} in, ${record.outputTokens ?? '?'} out`);
  row('estimated', record.estimated === true ? 'yes (split by time or partial tokens)' : 'no');
  row('active', impactText(record.activeImpact as Impact));
  row('comprehensive', impactText(record.comprehensive as Impact));
  return out;
}

function impactText(impact: Impact): string | null {
  if (!impact) return null;
  const energy = big(impact.facilityEnergyMicroJoules ?? impact.itEnergyMicroJoules);
  const parts = [energy === null ? 'energy unknown' : energyText(energy)];
  const location = big(impact.co2eLocationMicrograms);
  const market = big(impact.co2eMarketMicrograms);
  const water = big(impact.waterMicroliters);
  if (location !== null) parts.push(`CO2e ${massText(location)} (location-based)`);
  if (market !== null) parts.push(`${massText(market)} (market-based)`);
  if (water !== null) parts.push(`water ${volumeText(water)}`);
  return parts.join(', ');
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function big(value: unknown): bigint | null {
  return typeof value === 'string' && /^\d+$/.test(value) ? BigInt(value) : null;
}
