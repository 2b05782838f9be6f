import type { MicroJoules } from '../units.js';
import type { FactorSnapshot } from './snapshot.js';

/**
 * Energy → facility energy, CO2e and water, in exact integer arithmetic (docs/FACTORS.md). Every
 * result is one bigint product of the unrounded inputs divided once by {@link floorQuotient}, so
 * no intermediate value is rounded and 2^60 µJ is as exact as 1 µJ.
 */

/** 1 kWh = 3.6 × 10^6 J = 3.6 × 10^12 µJ, exactly. */
export const MICROJOULES_PER_KILOWATT_HOUR = 3_600_000_000_000n;
/** PUE travels as thousandths (`pueMilli`), so PUE 1.2 is 1200. */
export const PUE_MILLI_PER_UNIT = 1000n;
const MICROGRAMS_PER_MILLIGRAM = 1000n;
const MICROLITERS_PER_MILLILITER = 1000n;

/**
 * The one rounding rule of every factor result: floor of the exact quotient. All operands are
 * non-negative, where bigint division (which truncates) is the floor. Floor never reports more
 * than was measured; the loss is under one unit (1 µg, 1 µL, 1 µJ) per result.
 */
export function floorQuotient(numerator: bigint, denominator: bigint): bigint {
  if (numerator < 0n || denominator <= 0n) {
    throw new RangeError(`factor arithmetic needs non-negative operands, got ${numerator} / ${denominator}`);
  }
  return numerator / denominator;
}

/** Facility energy = IT energy × PUE, µJ. */
export function facilityEnergyMicroJoules(itMicroJoules: MicroJoules, pueMilli: number): MicroJoules {
  return floorQuotient(itMicroJoules * BigInt(pueMilli), PUE_MILLI_PER_UNIT);
}

/** CO2e µg = kWh × PUE × intensity: µJ × pueMilli × mg/kWh × 1000 / (3.6e12 × 1000). */
export function co2eMicrograms(
  itMicroJoules: MicroJoules,
  pueMilli: number,
  gridIntensityMilligramsCo2ePerKilowattHour: number,
): bigint {
  return floorQuotient(
    itMicroJoules *
      BigInt(pueMilli) *
      BigInt(gridIntensityMilligramsCo2ePerKilowattHour) *
      MICROGRAMS_PER_MILLIGRAM,
    MICROJOULES_PER_KILOWATT_HOUR * PUE_MILLI_PER_UNIT,
  );
}

/** On-site water µL = IT kWh × WUE (WUE is per kWh of IT energy, so no PUE). */
export function waterOnSiteMicroliters(
  itMicroJoules: MicroJoules,
  wueMillilitersPerKilowattHour: number,
): bigint {
  return floorQuotient(
    itMicroJoules * BigInt(wueMillilitersPerKilowattHour) * MICROLITERS_PER_MILLILITER,
    MICROJOULES_PER_KILOWATT_HOUR,
  );
}

/** Off-site water µL = IT kWh × PUE × EWIF (the grid generates the facility's energy). */
export function waterOffSiteMicroliters(
  itMicroJoules: MicroJoules,
  pueMilli: number,
  ewifMillilitersPerKilowattHour: number,
): bigint {
  return floorQuotient(
    itMicroJoules * BigInt(pueMilli) * BigInt(ewifMillilitersPerKilowattHour) * MICROLITERS_PER_MILLILITER,
    MICROJOULES_PER_KILOWATT_HOUR * PUE_MILLI_PER_UNIT,
  );
}

/** Which boundary a figure belongs to; the two are reported side by side, never added. */
export type Boundary = 'active' | 'comprehensive';

/** One boundary's energy, CO2e and water (in memory, bigint). `null`: the factor is not known. */
export type BoundaryImpact = {
  readonly boundary: Boundary;
  readonly itEnergyMicroJoules: MicroJoules;
  /** The PUE applied: the facility's for `comprehensive`, 1000 (none) for `active`. */
  readonly pueMilli: number;
  readonly facilityEnergyMicroJoules: MicroJoules;
  /** Location-based; null without a zone. */
  readonly co2eLocationMicrograms: bigint | null;
  /** Market-based, operator-supplied; null unless configured. Never added to the location figure. */
  readonly co2eMarketMicrograms: bigint | null;
  readonly waterOnSiteMicroliters: bigint;
  /** Null when EWIF is unknown. */
  readonly waterOffSiteMicroliters: bigint | null;
  /** On-site + off-site (the sum of the floored parts, so the parts add up); null when off-site is. */
  readonly waterMicroliters: bigint | null;
};

function impactAt(
  boundary: Boundary,
  itMicroJoules: MicroJoules,
  pueMilli: number,
  factors: FactorSnapshot,
): BoundaryImpact {
  if (itMicroJoules < 0n) throw new RangeError(`negative energy ${itMicroJoules} µJ`);
  const { location, market, water } = factors;
  const onSite = waterOnSiteMicroliters(itMicroJoules, water.wueMillilitersPerKilowattHour);
  const ewif = water.ewifMillilitersPerKilowattHour;
  const offSite = ewif === null ? null : waterOffSiteMicroliters(itMicroJoules, pueMilli, ewif);
  const intensity = (mg: number) => co2eMicrograms(itMicroJoules, pueMilli, mg);
  return {
    boundary,
    itEnergyMicroJoules: itMicroJoules,
    pueMilli,
    facilityEnergyMicroJoules: facilityEnergyMicroJoules(itMicroJoules, pueMilli),
    co2eLocationMicrograms: location && intensity(location.gridIntensityMilligramsCo2ePerKilowattHour),
    co2eMarketMicrograms: market && intensity(market.gridIntensityMilligramsCo2ePerKilowattHour),
    waterOnSiteMicroliters: onSite,
    waterOffSiteMicroliters: offSite,
    waterMicroliters: offSite === null ? null : onSite + offSite,
  };
}

/**
 * The active boundary: the accelerators' energy while serving the request, with no facility
 * overhead (PUE not applied, recorded as 1000). Google's 2025 paper calls this the narrow view.
 */
export function activeImpact(activeMicroJoules: MicroJoules, factors: FactorSnapshot): BoundaryImpact {
  return impactAt('active', activeMicroJoules, Number(PUE_MILLI_PER_UNIT), factors);
}

/** The parts of the comprehensive boundary, all µJ of IT energy. */
export type ComprehensiveInputs = {
  /** The accelerators' active energy (the active boundary). */
  readonly activeMicroJoules: MicroJoules;
  /** The request's share of its engine's idle energy (provisioned but unused capacity). */
  readonly idleShareMicroJoules: MicroJoules;
  /** Host CPU and DRAM energy attributed to the request. */
  readonly hostMicroJoules: MicroJoules;
};

/** The comprehensive boundary's impact with the parts its IT energy is made of. */
export type ComprehensiveImpact = BoundaryImpact & {
  readonly boundary: 'comprehensive';
} & ComprehensiveInputs;

/**
 * The comprehensive boundary (Google, "Measuring the environmental impact of delivering AI at
 * Google scale", 2025): active + idle share + host, then × PUE for the facility overhead.
 */
export function comprehensiveImpact(
  inputs: ComprehensiveInputs,
  factors: FactorSnapshot,
): ComprehensiveImpact {
  const { activeMicroJoules, idleShareMicroJoules, hostMicroJoules } = inputs;
  for (const part of [activeMicroJoules, idleShareMicroJoules, hostMicroJoules]) {
    if (part < 0n) throw new RangeError(`negative energy ${part} µJ`);
  }
  const it = activeMicroJoules + idleShareMicroJoules + hostMicroJoules;
  const impact = impactAt('comprehensive', it, factors.pueMilli, factors);
  return { ...impact, boundary: 'comprehensive', activeMicroJoules, idleShareMicroJoules, hostMicroJoules };
}
