import type { DecimalString, RequestEnergyRecord } from '../attribution/types.js';
import type { MicroJoules } from '../units.js';
import {
  activeImpact,
  type BoundaryImpact,
  type ComprehensiveImpact,
  comprehensiveImpact,
} from './impact.js';
import type { FactorSnapshot } from './snapshot.js';

/**
 * The wire (canonical-JSON) form of the impacts for request records: bigints become decimal
 * strings, unknown figures stay `null`, never 0 and never absent.
 */

/** One boundary's impact as it is signed. */
export type ImpactWire = {
  readonly boundary: 'active' | 'comprehensive';
  readonly itEnergyMicroJoules: DecimalString;
  readonly pueMilli: number;
  readonly facilityEnergyMicroJoules: DecimalString;
  readonly co2eLocationMicrograms: DecimalString | null;
  readonly co2eMarketMicrograms: DecimalString | null;
  readonly waterOnSiteMicroliters: DecimalString;
  readonly waterOffSiteMicroliters: DecimalString | null;
  readonly waterMicroliters: DecimalString | null;
};

/** The comprehensive boundary as it is signed: the impact and the IT energy's parts. */
export type ComprehensiveImpactWire = ImpactWire & {
  readonly boundary: 'comprehensive';
  readonly activeEnergyMicroJoules: DecimalString;
  readonly idleShareMicroJoules: DecimalString;
  readonly hostEnergyMicroJoules: DecimalString;
};

const orNull = (value: bigint | null): DecimalString | null => (value === null ? null : value.toString());

/** A boundary impact in wire form. */
export function impactToWire(impact: BoundaryImpact): ImpactWire {
  return {
    boundary: impact.boundary,
    itEnergyMicroJoules: impact.itEnergyMicroJoules.toString(),
    pueMilli: impact.pueMilli,
    facilityEnergyMicroJoules: impact.facilityEnergyMicroJoules.toString(),
    co2eLocationMicrograms: orNull(impact.co2eLocationMicrograms),
    co2eMarketMicrograms: orNull(impact.co2eMarketMicrograms),
    waterOnSiteMicroliters: impact.waterOnSiteMicroliters.toString(),
    waterOffSiteMicroliters: orNull(impact.waterOffSiteMicroliters),
    waterMicroliters: orNull(impact.waterMicroliters),
  };
}

/** The comprehensive impact in wire form. */
export function comprehensiveToWire(impact: ComprehensiveImpact): ComprehensiveImpactWire {
  return {
    ...impactToWire(impact),
    boundary: 'comprehensive',
    activeEnergyMicroJoules: impact.activeMicroJoules.toString(),
    idleShareMicroJoules: impact.idleShareMicroJoules.toString(),
    hostEnergyMicroJoules: impact.hostMicroJoules.toString(),
  };
}

/** The energy fields of a request record these functions read. */
export type RecordEnergyFields = Pick<
  RequestEnergyRecord,
  'activeEnergyMicroJoules' | 'hostEnergyMicroJoules'
>;

/** The active boundary of a record (its accelerators' active energy, no PUE), in wire form. */
export function recordActiveImpact(record: RecordEnergyFields, factors: FactorSnapshot): ImpactWire {
  return impactToWire(activeImpact(parseMicroJoules(record.activeEnergyMicroJoules, 'active'), factors));
}

/**
 * A copy of `record` with `comprehensive` filled: its active and host energy plus
 * `idleShareMicroJoules` (the record does not carry its idle share; the attributor knows it),
 * times the snapshot's PUE, with CO2e and water. The record's own fields are left as they are.
 */
export function withComprehensive<R extends RecordEnergyFields>(
  record: R,
  factors: FactorSnapshot,
  idleShareMicroJoules: MicroJoules,
): Omit<R, 'comprehensive'> & { readonly comprehensive: ComprehensiveImpactWire } {
  const impact = comprehensiveImpact(
    {
      activeMicroJoules: parseMicroJoules(record.activeEnergyMicroJoules, 'active'),
      idleShareMicroJoules,
      hostMicroJoules: parseMicroJoules(record.hostEnergyMicroJoules, 'host'),
    },
    factors,
  );
  return { ...record, comprehensive: comprehensiveToWire(impact) };
}

/**
 * The comprehensive boundary of a record, in wire form: its active energy + its idle share (the
 * record's `idleShareMicroJoules`, split by the attributor like the active energy) + its host
 * energy, × the snapshot's PUE, with CO2e and water.
 */
export function recordComprehensiveImpact(
  record: RecordEnergyFields & Pick<RequestEnergyRecord, 'idleShareMicroJoules'>,
  factors: FactorSnapshot,
): ComprehensiveImpactWire {
  return withComprehensive(record, factors, parseMicroJoules(record.idleShareMicroJoules, 'idle share'))
    .comprehensive;
}

/** A record's decimal energy string; anything else is a caller bug. */
function parseMicroJoules(text: DecimalString, what: string): MicroJoules {
  if (!/^(?:0|[1-9]\d*)$/.test(text))
    throw new TypeError(`${what} energy ${JSON.stringify(text)} is not a decimal µJ`);
  return BigInt(text);
}
