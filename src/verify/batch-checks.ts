import type { BatchStatement, WireDevice } from '../attest/batch-format.js';
import { hexFromBytes, utf8FromString } from '../attest/bytes.js';
import { canonicalBytes } from '../attest/canonical.js';
import { canonicalMemberText } from '../attest/json-span.js';
import { sha256 } from '../attest/sha256.js';
import { type Finding, finding } from './findings.js';
import {
  batchSpanNanos,
  batchSpanNumber,
  checkDevicePhysics,
  checkWindowShape,
  physicsPassesExactly,
} from './physics-checks.js';
import { certainlyAtMostProduct, difference, safe, small } from './small-integers.js';

/** A power reading may exceed the enforced limit briefly; beyond limit × this margin it is implausible. */
export const POWER_LIMIT_MARGIN = 2n;

type Where = { readonly sequence: string; readonly location: string };

/**
 * Checks one batch on its own: subject digest, per-device conservation (counter arithmetic,
 * attribution split with its deferred part), totals, and physical plausibility. `canonical`: the
 * payload's canonical text, or the devices' digest already taken from it (`OpenedBatch`). Every finding
 * names the device. The deferred balance across batches is a chain check (`chain-checks.ts`).
 */
export function checkBatch(
  statement: BatchStatement,
  location: string,
  canonical?: string | { readonly devicesSha256: string },
): Finding[] {
  const p = statement.predicate;
  const where = { sequence: p.sequence, location };
  const findings: Finding[] = [];
  const subject =
    typeof canonical === 'object' ? canonical.devicesSha256 : devicesDigest(p.devices, canonical);
  if (statement.subject[0].digest.sha256 !== subject) {
    findings.push(
      finding('VERIFY_SUM_MISMATCH', where, 'subject-digest', 'subject digest does not match the devices', {
        expected: subject,
        found: statement.subject[0].digest.sha256,
      }),
    );
  }
  findings.push(...checkWindowShape(p, where));
  // Each device and the totals are first checked on Numbers where that is exact; only a device
  // (or totals) not certainly passing so is checked, and its findings made, with BigInt.
  const spanNumber = batchSpanNumber(p);
  let span: bigint | undefined;
  for (const device of p.devices) {
    if (devicePassesExactly(device) && physicsPassesExactly(device, spanNumber)) continue;
    span ??= batchSpanNanos(p);
    findings.push(...checkDevice(device, where), ...checkDevicePhysics(device, span, where));
  }
  if (!totalsPassExactly(statement)) findings.push(...checkTotals(statement, where));
  return findings;
}

/**
 * SHA-256 (hex) of the canonical JSON of `devices`. From a verified canonical payload's text, the
 * devices' canonical bytes are a span of it: no re-encoding.
 */
export function devicesDigest(
  devices: readonly WireDevice[],
  canonicalPayloadText: string | undefined,
): string {
  const devicesText =
    canonicalPayloadText === undefined
      ? null
      : canonicalMemberText(canonicalPayloadText, ['predicate', 'devices']);
  return hexFromBytes(sha256(devicesText === null ? canonicalBytes(devices) : utf8FromString(devicesText)));
}

/**
 * True only when every check of {@link checkDevice} certainly passes, decided on Numbers where
 * they are exact (`small-integers.ts`); false when any check fails or cannot be decided so.
 */
function devicePassesExactly(d: WireDevice): boolean {
  const a = d.attribution;
  const r = a.resolved;
  const energy = small(d.energyMicroJoules);
  const counterEnergy = small(d.counterEnergyMicroJoules);
  const fallback = small(d.fallbackEnergyMicroJoules);
  const downtime = small(d.downtimeEnergyMicroJoules);
  const integrated = small(d.integratedEnergyMicroJoules);
  const requests = small(a.requestsMicroJoules);
  const idle = small(a.idleMicroJoules);
  const unattributed = small(a.unattributedMicroJoules);
  const deferred = small(a.deferredMicroJoules);
  const idleShared = small(a.idleSharedMicroJoules);
  const idleUnshared = small(a.idleUnsharedMicroJoules);
  const rIdle = small(r.idleMicroJoules);
  const rIdleShared = small(r.idleSharedMicroJoules);
  const rIdleUnshared = small(r.idleUnsharedMicroJoules);
  const compared = small(d.comparedCounterMicroJoules);
  const residual = small(d.residualMicroJoules);
  const covered = small(d.coveredNanos);
  if (
    energy === undefined ||
    counterEnergy === undefined ||
    fallback === undefined ||
    downtime === undefined ||
    integrated === undefined ||
    requests === undefined ||
    idle === undefined ||
    unattributed === undefined ||
    deferred === undefined ||
    idleShared === undefined ||
    idleUnshared === undefined ||
    rIdle === undefined ||
    rIdleShared === undefined ||
    rIdleUnshared === undefined ||
    compared === undefined ||
    residual === undefined ||
    covered === undefined
  )
    return false;
  // Unmeasured is a state: nothing covered, no energy, and a reason; measured covers something.
  if (covered === 0 ? energy !== 0 || d.unmeasuredReason === null : d.unmeasuredReason !== null) return false;
  if (d.energySource === 'counter') {
    if (d.counterStartMicroJoules !== null && d.counterEndMicroJoules !== null) {
      const delta =
        d.wrapCount === 0 && d.discontinuities.length === 0
          ? difference(d.counterEndMicroJoules, d.counterStartMicroJoules)
          : undefined;
      if (delta === undefined) {
        if (counterEnergyOf(d) !== BigInt(d.counterEnergyMicroJoules)) return false;
      } else if (delta !== counterEnergy) return false;
    }
    if (safe(counterEnergy + fallback) !== energy || downtime > counterEnergy) return false;
  } else if (d.energySource === 'integrated-power' && integrated !== energy) return false;
  if (safe(requests + idle + unattributed + deferred) !== energy) return false;
  if (safe(idleShared + idleUnshared) !== idle) return false;
  if (safe(rIdleShared + rIdleUnshared) !== rIdle) return false;
  const b = a.idleBaseline;
  if (b === null) {
    if (idle > 0) return false;
  } else {
    if (!certainlyAtMostProduct(idle, b.maxPowerMilliWatts, covered)) return false;
    if (!(b.minPowerMilliWatts <= b.powerMilliWatts && b.powerMilliWatts <= b.maxPowerMilliWatts))
      return false;
    if (b.source === 'configured' && (b.sampleCount !== 0 || b.idleNanos !== '0')) return false;
    if (b.source === 'learned' && (b.sampleCount === 0 || b.idleNanos === '0')) return false;
  }
  if (d.powerLimitMilliWatts !== null && d.peakPowerMilliWatts !== null) {
    if (d.peakPowerMilliWatts > d.powerLimitMilliWatts * Number(POWER_LIMIT_MARGIN)) return false;
  }
  const implied = compared - residual;
  return implied >= 0 && implied <= integrated;
}

/** True only when every total certainly equals its sum, decided on Numbers where exact. */
function totalsPassExactly(statement: BatchStatement): boolean {
  let all = 0;
  let gpu = 0;
  let cpu = 0;
  let dram = 0;
  for (const d of statement.predicate.devices) {
    if (d.accounting === 'overlapping') continue;
    const energy = small(d.energyMicroJoules);
    if (energy === undefined) return false;
    all += energy;
    if (d.hwType === 'gpu') gpu += energy;
    else if (d.hwType === 'cpu') cpu += energy;
    else if (d.hwType === 'dram') dram += energy;
    // Every partial sum stays safe, so each is exact (a larger true sum would show here).
    if (safe(all) === undefined) return false;
  }
  const t = statement.predicate.totals;
  return (
    small(t.energyMicroJoules) === all &&
    small(t.gpuEnergyMicroJoules) === gpu &&
    small(t.cpuEnergyMicroJoules) === cpu &&
    small(t.dramEnergyMicroJoules) === dram
  );
}

function checkDevice(d: WireDevice, where: Where): Finding[] {
  const out: Finding[] = [];
  const id = d.deviceId;
  const energy = BigInt(d.energyMicroJoules);
  const mismatch = (check: string, what: string, expected: bigint, found: bigint): void => {
    if (expected !== found)
      out.push(finding('VERIFY_SUM_MISMATCH', where, check, `${id}: ${what}`, { expected, found }));
  };
  if (d.energySource === 'counter') {
    if (d.counterStartMicroJoules !== null && d.counterEndMicroJoules !== null) {
      mismatch(
        'counter-arithmetic',
        'counter energy ≠ end − start + wraps × range + declared jumps',
        counterEnergyOf(d),
        BigInt(d.counterEnergyMicroJoules),
      );
    }
    mismatch(
      'energy-composition',
      'energy ≠ counter energy + fallback energy',
      BigInt(d.counterEnergyMicroJoules) + BigInt(d.fallbackEnergyMicroJoules),
      energy,
    );
    if (BigInt(d.downtimeEnergyMicroJoules) > BigInt(d.counterEnergyMicroJoules)) {
      out.push(
        finding(
          'VERIFY_SUM_MISMATCH',
          where,
          'downtime-energy',
          `${id}: downtime energy exceeds counter energy`,
        ),
      );
    }
  } else if (d.energySource === 'integrated-power') {
    mismatch(
      'energy-composition',
      'energy ≠ integrated power energy',
      BigInt(d.integratedEnergyMicroJoules),
      energy,
    );
  }
  // Invariant A: what was allocated before the seal plus what is still deferred is the energy.
  const a = d.attribution;
  mismatch(
    'conservation',
    'requests + idle + unattributed + deferred ≠ energy',
    BigInt(a.requestsMicroJoules) +
      BigInt(a.idleMicroJoules) +
      BigInt(a.unattributedMicroJoules) +
      BigInt(a.deferredMicroJoules),
    energy,
  );
  // Invariant C: the idle part is the requests' idle shares plus the idle no request shared, both
  // for this batch's splits and for the resolved ones of earlier batches.
  for (const [label, sums] of [
    ['', a],
    ['resolved ', a.resolved],
  ] as const) {
    mismatch(
      'idle-split',
      `${label}idle shared + idle unshared ≠ idle`,
      BigInt(sums.idleSharedMicroJoules) + BigInt(sums.idleUnsharedMicroJoules),
      BigInt(sums.idleMicroJoules),
    );
  }
  out.push(...checkIdleBaseline(d, where));
  out.push(...checkPlausibility(d, where));
  return out;
}

/**
 * The declared idle baseline is an ordered range holding the power in use, a configured one has no
 * samples, and this batch's idle part is at most the highest baseline over the covered time.
 */
function checkIdleBaseline(d: WireDevice, where: Where): Finding[] {
  const b = d.attribution.idleBaseline;
  const idle = BigInt(d.attribution.idleMicroJoules);
  // µJ = mW × ns / 10^6; each split's idle is at most its baseline × its duration.
  const ceiling = b === null ? 0n : (BigInt(b.maxPowerMilliWatts) * BigInt(d.coveredNanos)) / 1_000_000n;
  const out: Finding[] = [];
  if (idle > ceiling) {
    out.push(
      finding(
        'VERIFY_IMPLAUSIBLE',
        where,
        'idle-ceiling',
        `${d.deviceId}: more idle energy than the declared idle baseline allows over the covered time`,
        { expected: `<= ${ceiling}`, found: idle },
      ),
    );
  }
  if (b === null) return out;
  const problems: string[] = [];
  if (!(b.minPowerMilliWatts <= b.powerMilliWatts && b.powerMilliWatts <= b.maxPowerMilliWatts))
    problems.push('min ≤ power ≤ max does not hold');
  if (b.source === 'configured' && (b.sampleCount !== 0 || b.idleNanos !== '0'))
    problems.push('a configured baseline declares learned samples');
  if (b.source === 'learned' && (b.sampleCount === 0 || b.idleNanos === '0'))
    problems.push('a learned baseline declares no idle samples');
  for (const problem of problems) {
    out.push(
      finding('VERIFY_IMPLAUSIBLE', where, 'idle-baseline', `${d.deviceId}: idle baseline: ${problem}`, {
        found: `${b.source} ${b.minPowerMilliWatts} ≤ ${b.powerMilliWatts} ≤ ${b.maxPowerMilliWatts} mW, ${b.sampleCount} samples, ${b.idleNanos} ns`,
      }),
    );
  }
  return out;
}

/** end − start + wraps × range + Σ (from − to) over declared jumps: the counter's own account. */
function counterEnergyOf(d: WireDevice): bigint {
  let total = BigInt(d.counterEndMicroJoules ?? '0') - BigInt(d.counterStartMicroJoules ?? '0');
  if (d.wrapCount > 0) total += BigInt(d.wrapCount) * BigInt(d.wrapRangeMicroJoules ?? '0');
  for (const jump of d.discontinuities) total += BigInt(jump.fromMicroJoules) - BigInt(jump.toMicroJoules);
  return total;
}

function checkPlausibility(d: WireDevice, where: Where): Finding[] {
  const out: Finding[] = [];
  out.push(...checkMeasuredState(d, where));
  if (d.powerLimitMilliWatts !== null) {
    const limit = BigInt(d.powerLimitMilliWatts) * POWER_LIMIT_MARGIN;
    if (d.peakPowerMilliWatts !== null && BigInt(d.peakPowerMilliWatts) > limit) {
      out.push(
        finding(
          'VERIFY_IMPLAUSIBLE',
          where,
          'power-ceiling',
          `${d.deviceId}: a power reading above ${POWER_LIMIT_MARGIN}× its limit`,
          {
            expected: `<= ${limit}`,
            found: d.peakPowerMilliWatts,
          },
        ),
      );
    }
  }
  // The residual compares counter and integrated energy over the same intervals: the integrated
  // side it implies must be a real, non-negative part of the integrated total.
  const impliedIntegrated = BigInt(d.comparedCounterMicroJoules) - BigInt(d.residualMicroJoules);
  if (impliedIntegrated < 0n || impliedIntegrated > BigInt(d.integratedEnergyMicroJoules)) {
    out.push(
      finding(
        'VERIFY_IMPLAUSIBLE',
        where,
        'residual',
        `${d.deviceId}: the declared residual does not fit the integrated energy`,
        {
          expected: `0 <= compared − residual <= ${d.integratedEnergyMicroJoules}`,
          found: impliedIntegrated,
        },
      ),
    );
  }
  return out;
}

/**
 * A device claiming energy with nothing covered is a finding (energy of no time is no measurement);
 * a device is unmeasured (with its reason) exactly when it covers nothing.
 */
function checkMeasuredState(d: WireDevice, where: Where): Finding[] {
  const covered = BigInt(d.coveredNanos);
  const energy = BigInt(d.energyMicroJoules);
  if (covered === 0n && energy > 0n) {
    return [
      finding(
        'VERIFY_IMPLAUSIBLE',
        where,
        'energy-uncovered',
        `${d.deviceId}: energy claimed with no time covered`,
        {
          expected: '0',
          found: d.energyMicroJoules,
        },
      ),
    ];
  }
  if ((covered === 0n) !== (d.unmeasuredReason !== null)) {
    return [
      finding(
        'VERIFY_IMPLAUSIBLE',
        where,
        'unmeasured-state',
        covered === 0n
          ? `${d.deviceId}: covers no time but is not declared unmeasured`
          : `${d.deviceId}: declared unmeasured (${d.unmeasuredReason}) but covers time`,
        {
          expected: covered === 0n ? 'an unmeasuredReason' : 'unmeasuredReason null',
          found: d.unmeasuredReason ?? 'null',
        },
      ),
    ];
  }
  return [];
}

function checkTotals(statement: BatchStatement, where: Where): Finding[] {
  const sums = { all: 0n, gpu: 0n, cpu: 0n, dram: 0n };
  for (const d of statement.predicate.devices) {
    if (d.accounting === 'overlapping') continue;
    const energy = BigInt(d.energyMicroJoules);
    sums.all += energy;
    if (d.hwType === 'gpu' || d.hwType === 'cpu' || d.hwType === 'dram') sums[d.hwType] += energy;
  }
  const t = statement.predicate.totals;
  const pairs: [string, bigint, string][] = [
    ['energyMicroJoules', sums.all, t.energyMicroJoules],
    ['gpuEnergyMicroJoules', sums.gpu, t.gpuEnergyMicroJoules],
    ['cpuEnergyMicroJoules', sums.cpu, t.cpuEnergyMicroJoules],
    ['dramEnergyMicroJoules', sums.dram, t.dramEnergyMicroJoules],
  ];
  return pairs
    .filter(([, expected, found]) => expected !== BigInt(found))
    .map(([name, expected, found]) =>
      finding('VERIFY_SUM_MISMATCH', where, 'totals', `totals.${name} ≠ Σ of the additive devices`, {
        expected,
        found,
      }),
    );
}
