import type { ProbeAttempt } from '../probes/select.js';
import type { DeviceInfo } from '../probes/types.js';
import { formatPower } from '../units.js';

/** Shared text helpers for the CLI's human output (display only). */

export const SIMULATED_BANNER =
  'SIMULATED GPUs: no real hardware is measured; numbers come from a deterministic power model.';

/** Pads a table: each row an array of cells, columns separated by two spaces. */
export function table(rows: readonly (readonly string[])[], indent = '  '): string {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows
    .map(
      (row) =>
        indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '),
    )
    .join('\n');
}

/** One line describing what a device measures and how. */
export function deviceSummary(device: DeviceInfo): string {
  const parts = [device.hasEnergyCounter ? 'energy counter' : 'no energy counter: integrates power'];
  if (device.powerSemantics)
    parts.push(`power ${device.powerSemantics === 'instant' ? 'instant' : '1 s average'}`);
  if (device.powerLimitMilliWatts !== undefined)
    parts.push(`limit ${formatPower(device.powerLimitMilliWatts)}`);
  if (device.migMode) parts.push(`MIG ${device.migMode}`);
  if (device.energyWrapMicroJoules !== undefined) parts.push(`wraps at ${device.energyWrapMicroJoules} µJ`);
  return parts.join(', ');
}

/** Shortens a GPU UUID for tables: `GPU-5140a7ed…0001`. */
export function shortId(id: string): string {
  return id.length > 24 ? `${id.slice(0, 12)}…${id.slice(-4)}` : id;
}

/**
 * When simulated GPUs stand in because no real GPU could be used, says so and why; else null.
 */
export function simulatedFallbackNote(attempts: readonly ProbeAttempt[]): string | null {
  const simulated = attempts.find((a) => a.kind === 'simulated' && a.outcome === 'used');
  const failed = attempts.filter((a) => a.role === 'gpu' && a.outcome === 'failed' && a.kind !== 'simulated');
  if (!simulated || failed.length === 0) return null;
  const reasons = failed.map((a) => `${a.kind}: ${a.code ?? ''} ${a.reason ?? ''}`.trim()).join('; ');
  return `No GPU found on this host (${reasons}). Running on SIMULATED GPUs instead.`;
}
