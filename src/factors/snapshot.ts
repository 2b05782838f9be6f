import type { Config } from '../config/schema.js';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { type GridDataSource, gridZoneCandidates, lookupGridIntensity } from './grid-data.js';
import { closeZoneMatches } from './zone-match.js';

/**
 * The factors behind a batch's CO2e and water, as they go into `predicate.factors`: a plain
 * canonical-JSON object (type aliases, not interfaces, so it is assignable to the predicate's
 * `Record<string, unknown>`), integers only, each with its unit in its name. Every value is
 * bounded by the config schema far below 2^53, so none needs a decimal string.
 */
export type FactorSnapshot = {
  readonly factorsVersion: 1;
  /** Facility PUE × 1000 (1000 = PUE 1.0, also what an unconfigured facility reports). */
  readonly pueMilli: number;
  /** Location-based grid intensity (GHG Protocol Scope 2, SCI's I); null: no zone, no CO2e. */
  readonly location: LocationFactor | null;
  /** Market-based intensity, only ever operator-supplied and reported apart from location. */
  readonly market: MarketFactor | null;
  readonly water: WaterFactors;
  readonly energySource: EnergySource;
};

export type LocationFactor = {
  readonly zone: string;
  readonly zoneName: string | null;
  /** The data package's dataset, or `operator` when the operator set the value. */
  readonly source: GridDataSource | 'operator';
  /** Package, version and table; null for an operator value. */
  readonly dataset: string | null;
  /** Year the value describes; null where the data does not say (Ember in co2.js, or not given). */
  readonly year: number | null;
  readonly gridIntensityMilligramsCo2ePerKilowattHour: number;
  /** SPDX id of the data's licence; null for an operator value. */
  readonly licence: string | null;
  readonly attribution: string | null;
  /** The operator's note on their value; null for package data. */
  readonly note: string | null;
};

export type MarketFactor = {
  /** Always true: market-based figures come from contracts we cannot see, so the operator vouches. */
  readonly operatorSupplied: true;
  readonly method: 'ghg-protocol-scope2-market-based';
  readonly gridIntensityMilligramsCo2ePerKilowattHour: number;
  /** "PPA", "REC", "GO", "supplier mix", "residual mix". */
  readonly instrument: string;
  readonly note: string;
};

export type WaterFactors = {
  /** On-site water (cooling) per kWh of IT energy. */
  readonly wueMillilitersPerKilowattHour: number;
  /** Off-site water consumed generating each kWh; null: unknown, so no off-site or total water. */
  readonly ewifMillilitersPerKilowattHour: number | null;
  /** Where each factor comes from; null: not given (WUE 0 is then the unconfigured default). */
  readonly sources: { readonly wue: string | null; readonly ewif: string | null };
};

export type EnergySource = {
  /** `grid-mix`: the zone's average supply; `contracted`: a supply the operator contracted. */
  readonly kind: 'grid-mix' | 'contracted';
  readonly description: string | null;
};

/** The validated `factors` section of the configuration. */
export type FactorsConfig = Config['factors'];

/**
 * Resolves the configured factors into the snapshot batches carry. Throws {@link ConfigError}
 * `CONFIG_INVALID` for a zone the data package does not know (listing close matches) or a year it
 * has no table for: the daemon refuses to start rather than report CO2e for a guessed grid.
 */
export function buildFactorSnapshot(factors: FactorsConfig): FactorSnapshot {
  return {
    factorsVersion: 1,
    pueMilli: factors.pueMilli,
    location: resolveLocation(factors),
    market:
      factors.market === null
        ? null
        : {
            operatorSupplied: true,
            method: 'ghg-protocol-scope2-market-based',
            gridIntensityMilligramsCo2ePerKilowattHour: factors.market.gridIntensityMilligramsPerKilowattHour,
            instrument: factors.market.instrument,
            note: factors.market.note,
          },
    water: {
      wueMillilitersPerKilowattHour: factors.wueMillilitersPerKilowattHour,
      ewifMillilitersPerKilowattHour: factors.ewifMillilitersPerKilowattHour,
      sources: { wue: factors.wueSource, ewif: factors.ewifSource },
    },
    energySource: { kind: factors.energySource.kind, description: factors.energySource.description },
  };
}

function resolveLocation(factors: FactorsConfig): LocationFactor | null {
  const { zone, gridIntensityYear: year } = factors;
  if (zone === null) return null;
  const override = factors.gridIntensityMilligramsPerKilowattHour;
  if (override !== null) {
    // The zone is the operator's label here: their value need not come from any dataset we know.
    return {
      zone,
      zoneName: null,
      source: 'operator',
      dataset: null,
      year,
      gridIntensityMilligramsCo2ePerKilowattHour: override,
      licence: null,
      attribution: null,
      note: factors.gridIntensityNote,
    };
  }
  const found = lookupGridIntensity(zone, year);
  if (!found.ok) {
    const { field, expected } = found.failure;
    const value = field === 'zone' ? zone : year;
    throw invalidFactor(field, field === 'zone' ? withSuggestions(expected, zone) : expected, value);
  }
  return { ...found.intensity, note: null };
}

function withSuggestions(expected: string, zone: string): string {
  const matches = closeZoneMatches(zone, gridZoneCandidates());
  return matches.length === 0
    ? `${expected} (no close match)`
    : `${expected}; close matches: ${matches.map((id) => JSON.stringify(id)).join(', ')}`;
}

function invalidFactor(field: string, expected: string, value: unknown): ConfigError {
  const problem: ConfigProblem = { path: `factors.${field}`, expected, found: JSON.stringify(value) };
  return new ConfigError(
    'CONFIG_INVALID',
    `invalid configuration (1 problem):\n  ${problem.path}: expected ${expected}, found ${problem.found}`,
    [problem],
  );
}
