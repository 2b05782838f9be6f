import { averageIntensity, electricityMaps } from '@tgwf/co2/data';
import type { ZoneCandidate } from './zone-match.js';

/**
 * Location-based grid carbon intensity from the `@tgwf/co2` data package (The Green Web
 * Foundation, code Apache-2.0). Two datasets, told apart by the form of the zone:
 *
 * - Electricity Maps yearly zone averages (`DE`, `US-CAL-CISO`, `SE-SE3`; ISO 3166 alpha-2 for
 *   whole countries), one table per year, integer gCO2eq/kWh. Data licence ODbL 1.0.
 * - Ember yearly country averages (ISO 3166 alpha-3 `DEU`, or a region such as `WORLD`, `EU`),
 *   gCO2e/kWh with two decimals, the latest year with data per country. The package does not ship
 *   that year, so it is recorded as `null` rather than guessed. Data licence as co2.js states it:
 *   CC BY-SA 4.0.
 *
 * The two key sets do not overlap (a test checks it), so a zone names exactly one value.
 */

/** The data package the defaults come from, pinned exactly in package.json (a test checks it). */
export const GRID_DATA_PACKAGE = '@tgwf/co2@0.19.0';

export type GridDataSource = 'electricity-maps' | 'ember';

/** One zone's yearly intensity as read from the package, with where it came from and its licence. */
export type DatasetIntensity = {
  readonly zone: string;
  readonly zoneName: string | null;
  readonly source: GridDataSource;
  /** Package, version and table, e.g. `@tgwf/co2@0.19.0 electricityMaps.yearly2025`. */
  readonly dataset: string;
  readonly year: number | null;
  readonly gridIntensityMilligramsCo2ePerKilowattHour: number;
  /** SPDX licence id of the data (not of the package's code). */
  readonly licence: string;
  /** The credit the licence asks for. */
  readonly attribution: string;
};

const DATA_TERMS: Record<GridDataSource, { licence: string; attribution: string }> = {
  'electricity-maps': {
    licence: 'ODbL-1.0',
    attribution:
      'Electricity Maps (https://www.electricitymaps.com) yearly zone data, republished by @tgwf/co2; ' +
      'methodology https://www.electricitymaps.com/data/methodology',
  },
  ember: {
    licence: 'CC-BY-SA-4.0',
    attribution: 'Ember (https://ember-climate.org) yearly country data, republished by @tgwf/co2',
  },
};

/** A lookup that failed, said as a config problem of `factors.<field>`. */
export type GridLookupFailure = {
  readonly field: 'zone' | 'gridIntensityYear';
  readonly expected: string;
};

export type GridLookup =
  | { readonly ok: true; readonly intensity: DatasetIntensity }
  | { readonly ok: false; readonly failure: GridLookupFailure };

/** Years that have an Electricity Maps table in the package, ascending. */
export function electricityMapsYears(): number[] {
  return Object.keys(electricityMaps)
    .map((key) => /^yearly(\d{4})$/.exec(key)?.[1])
    .filter((year): year is string => year !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/**
 * The yearly intensity of `zone` (exact, case-sensitive id). `year` picks an Electricity Maps
 * table; `null` takes the latest one. Never falls back: an unknown zone or year is a failure.
 */
export function lookupGridIntensity(zone: string, year: number | null): GridLookup {
  const years = electricityMapsYears();
  const latest = years.at(-1);
  if (latest !== undefined && Object.hasOwn(electricityMaps[`yearly${latest}`]?.data ?? {}, zone)) {
    const chosen = year ?? latest;
    if (!years.includes(chosen)) {
      return fail('gridIntensityYear', `a year with Electricity Maps data: ${years.join(', ')}, or null`);
    }
    return fromElectricityMaps(zone, chosen);
  }
  if (Object.hasOwn(averageIntensity.data, zone)) {
    if (year !== null) {
      return fail('gridIntensityYear', `null: Ember averages in ${GRID_DATA_PACKAGE} carry no year`);
    }
    return fromEmber(zone);
  }
  return fail('zone', 'an Electricity Maps zone (e.g. "DE", "US-CAL-CISO") or an ISO 3166 alpha-3 code');
}

function fromElectricityMaps(zone: string, year: number): GridLookup {
  const table = `yearly${year}`;
  const entry = electricityMaps[table]?.data[zone];
  if (entry === undefined) return fail('gridIntensityYear', `a year in which zone ${zone} has data`);
  const { value, unit } = entry.carbonIntensity;
  if (unit !== 'gCO2eq/kWh')
    throw new Error(`${GRID_DATA_PACKAGE} ${table} ${zone}: unexpected unit ${unit}`);
  const names = entry.zone;
  return ok('electricity-maps', {
    zone,
    zoneName: names.displayName ?? names.zoneName ?? names.countryName ?? null,
    dataset: `${GRID_DATA_PACKAGE} electricityMaps.${table}`,
    year,
    gridIntensityMilligramsCo2ePerKilowattHour: milligramsFromGrams(value),
  });
}

function fromEmber(zone: string): GridLookup {
  return ok('ember', {
    zone,
    zoneName: null,
    dataset: `${GRID_DATA_PACKAGE} averageIntensity`,
    year: null,
    gridIntensityMilligramsCo2ePerKilowattHour: milligramsFromGrams(
      averageIntensity.data[zone] ?? Number.NaN,
    ),
  });
}

function ok(
  source: GridDataSource,
  fields: Omit<DatasetIntensity, 'source' | 'licence' | 'attribution'>,
): GridLookup {
  return { ok: true, intensity: { ...fields, source, ...DATA_TERMS[source] } };
}

function fail(field: GridLookupFailure['field'], expected: string): GridLookup {
  return { ok: false, failure: { field, expected } };
}

/**
 * g → mg without floating-point arithmetic: the package's numbers are read through their shortest
 * decimal text (`383.55` → `"383.55"` → 383550), which is exact for up to three decimals. More
 * decimals, a negative or a non-finite value means the package changed shape: throw, never round.
 */
export function milligramsFromGrams(grams: number): number {
  const match = /^(\d{1,7})(?:\.(\d{1,3}))?$/.exec(String(grams));
  if (match === null) throw new Error(`${GRID_DATA_PACKAGE}: intensity ${grams} g/kWh is not convertible`);
  return Number(match[1]) * 1000 + Number((match[2] ?? '').padEnd(3, '0'));
}

let candidates: readonly ZoneCandidate[] | undefined;

/** Every zone id the package knows (latest Electricity Maps table, then Ember), with names. */
export function gridZoneCandidates(): readonly ZoneCandidate[] {
  if (candidates !== undefined) return candidates;
  const latest = electricityMapsYears().at(-1);
  const zones = latest === undefined ? {} : (electricityMaps[`yearly${latest}`]?.data ?? {});
  candidates = [
    ...Object.entries(zones).map(([id, entry]) => ({
      id,
      names: [entry.zone.zoneName, entry.zone.displayName, entry.zone.countryName].filter(
        (name): name is string => typeof name === 'string',
      ),
    })),
    ...Object.keys(averageIntensity.data).map((id) => ({ id, names: [] })),
  ];
  return candidates;
}
