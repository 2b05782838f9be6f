import { CliError } from '../errors.js';
import { bigintsToStrings } from '../log.js';
import { averageMilliWatts, formatEnergy, formatPower, NANOS_PER_MILLI } from '../units.js';
import { deviceSummary, SIMULATED_BANNER, shortId, simulatedFallbackNote, table } from './format.js';
import type { ProbeReport } from './probe-report.js';

/** Host facts shown by `probe` (from the host identity module). */
export type HostFacts = Readonly<Record<string, string | number | undefined>>;

/** Renders the probe report as JSON (bigints as decimal strings). */
export function renderProbeJson(report: ProbeReport, host: HostFacts | null): string {
  return JSON.stringify(bigintsToStrings({ host, ...report }), null, 2);
}

/** Renders the probe report for a person. */
export function renderProbeText(report: ProbeReport, host: HostFacts | null): string {
  const out: string[] = [];
  const fallback = simulatedFallbackNote(report.attempts);
  if (fallback) out.push(fallback);
  if (report.simulated) out.push(SIMULATED_BANNER, '');
  if (host) {
    out.push('Host');
    out.push(
      table(
        Object.entries(host)
          .filter(([, v]) => v !== undefined && v !== '')
          .map(([k, v]) => [k, String(v)]),
      ),
    );
    out.push('');
  }
  out.push('Probes');
  out.push(
    table(
      report.attempts.map((a) => [
        a.kind,
        a.role,
        a.outcome === 'used'
          ? `used: ${a.deviceCount} device${a.deviceCount === 1 ? '' : 's'}`
          : `${a.outcome}: ${a.code ? `${a.code} ` : ''}${a.reason ?? ''}`,
      ]),
    ),
  );
  for (const attempt of report.attempts)
    if (attempt.hint) out.push(`    hint (${attempt.kind}): ${attempt.hint}`);
  for (const probe of report.probes) {
    out.push('', `Devices from ${probe.kind}${detailsText(probe.details)}`);
    out.push(
      table(probe.devices.map((d) => [shortId(d.id), d.name, d.pciBusId ?? d.hwType, deviceSummary(d)])),
    );
    for (const note of probe.notes) out.push(`    note: ${note}`);
  }
  if (report.readings.length > 0) {
    out.push('', `Readings over ${report.sampleMs} ms`);
    out.push(
      table(
        report.readings.map((r) => {
          const nanos = r.endMonoNanos - r.startMonoNanos;
          if (r.energyMicroJoules === null)
            return [shortId(r.deviceId), `gap: ${r.gap?.reason ?? 'unknown'}`, r.gap?.message ?? ''];
          const mean = averageMilliWatts(r.energyMicroJoules, nanos);
          return [
            shortId(r.deviceId),
            `${formatEnergy(r.energyMicroJoules)} in ${Number(nanos / NANOS_PER_MILLI)} ms`,
            `mean ${mean === null ? '-' : formatPower(mean)}`,
            `from ${r.source}`,
          ];
        }),
      ),
    );
  }
  out.push(...idleBaselineText(report.idleBaseline));
  return out.join('\n');
}

/** The idle baseline section: what the daemon would subtract per GPU when it starts now. */
export function idleBaselineText(status: ProbeReport['idleBaseline']): string[] {
  if (status.devices.length === 0) return [];
  const mode = status.devices[0]?.mode ?? 'learned';
  const out = ['', `Idle baseline (attribution.idleBaseline: ${mode})`];
  out.push(
    table(
      status.devices.map((d) => [
        shortId(d.deviceId),
        d.powerMilliWatts === null ? '-' : formatPower(d.powerMilliWatts),
        d.from === 'persisted'
          ? `learned by an earlier run (${d.sampleCount} idle intervals, ${d.idleSeconds} s), from ${status.path}`
          : d.from === 'configured'
            ? mode === 'learned'
              ? 'attribution.idlePowerMilliWatts, until learned'
              : 'attribution.idlePowerMilliWatts'
            : 'the lowest power measured, until learned',
      ]),
    ),
  );
  if (status.problem !== null) out.push(`    note: persisted idle baselines not used: ${status.problem}`);
  return out;
}

function detailsText(details: Readonly<Record<string, string>>): string {
  const entries = Object.entries(details);
  return entries.length === 0 ? '' : ` (${entries.map(([k, v]) => `${k} ${v}`).join(', ')})`;
}

/** The error `probe` ends with when no GPU was found, with the hint an operator needs. */
export function noGpuError(report: ProbeReport): CliError {
  const tried = report.attempts.filter((a) => a.role === 'gpu' && a.outcome === 'failed').map((a) => a.kind);
  return new CliError(
    'CLI_NO_DEVICES',
    `no GPU found on this host${tried.length ? ` (tried ${tried.join(', ')})` : ''}`,
    {
      hint:
        'check that the NVIDIA driver is loaded (nvidia-smi works), point --nvml-library or --nvidia-smi at the right ' +
        'paths, or run with --simulate to try wattledger on simulated GPUs',
    },
  );
}
