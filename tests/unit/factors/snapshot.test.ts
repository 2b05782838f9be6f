import { describe, expect, it } from 'vitest';
import { canonicalString, parseCanonicalJson } from '../../../src/attest/canonical.js';
import { validateLayers } from '../../../src/config/load.js';
import { configSchema } from '../../../src/config/schema.js';
import { ConfigError } from '../../../src/errors.js';
import { buildFactorSnapshot, type FactorSnapshot } from '../../../src/factors/snapshot.js';

const factorsOf = (factors: Record<string, unknown>) => configSchema.parse({ factors }).factors;

const FULL = {
  pueMilli: 1170,
  zone: 'SE-SE3',
  gridIntensityYear: 2024,
  market: { gridIntensityMilligramsPerKilowattHour: 0, instrument: 'GO', note: 'guarantees of origin 2024' },
  wueMillilitersPerKilowattHour: 550,
  wueSource: 'site meter 2024',
  ewifMillilitersPerKilowattHour: 3140,
  ewifSource: 'Li et al. 2023 (arXiv 2304.03271), US average',
  energySource: { kind: 'contracted', description: 'hydro PPA' },
};

describe('buildFactorSnapshot', () => {
  it('without a zone reports no location intensity (so no CO2e), with PUE 1.0 and WUE 0', () => {
    expect(buildFactorSnapshot(configSchema.parse({}).factors)).toEqual({
      factorsVersion: 1,
      pueMilli: 1000,
      location: null,
      market: null,
      water: {
        wueMillilitersPerKilowattHour: 0,
        ewifMillilitersPerKilowattHour: null,
        sources: { wue: null, ewif: null },
      },
      energySource: { kind: 'grid-mix', description: null },
    });
  });

  it('records zone, dataset, year, value and the data licence; market apart and labelled', () => {
    const snapshot = buildFactorSnapshot(factorsOf(FULL));
    expect(snapshot.location).toMatchObject({
      zone: 'SE-SE3',
      source: 'electricity-maps',
      year: 2024,
      licence: 'ODbL-1.0',
      note: null,
    });
    expect(snapshot.market).toEqual({
      operatorSupplied: true,
      method: 'ghg-protocol-scope2-market-based',
      gridIntensityMilligramsCo2ePerKilowattHour: 0,
      instrument: 'GO',
      note: 'guarantees of origin 2024',
    });
    expect(snapshot.water.sources).toEqual({ wue: 'site meter 2024', ewif: FULL.ewifSource });
    expect(snapshot.energySource).toEqual({ kind: 'contracted', description: 'hydro PPA' });
  });

  it('is canonical JSON and fits the predicate factors field', () => {
    const snapshot = buildFactorSnapshot(factorsOf(FULL));
    const predicateFactors: Readonly<Record<string, unknown>> | null = snapshot;
    const text = canonicalString(predicateFactors);
    expect(parseCanonicalJson(new TextEncoder().encode(text))).toEqual(snapshot);
    expect(canonicalString(buildFactorSnapshot(configSchema.parse({}).factors))).toContain('"location":null');
  });

  it('takes an operator intensity as source operator, with its note and no licence', () => {
    const snapshot = buildFactorSnapshot(
      factorsOf({
        zone: 'my-microgrid',
        gridIntensityMilligramsPerKilowattHour: 120_500,
        gridIntensityNote: 'utility 2025',
      }),
    );
    expect(snapshot.location).toEqual({
      zone: 'my-microgrid',
      zoneName: null,
      source: 'operator',
      dataset: null,
      year: null,
      gridIntensityMilligramsCo2ePerKilowattHour: 120_500,
      licence: null,
      attribution: null,
      note: 'utility 2025',
    } satisfies FactorSnapshot['location']);
  });

  it('refuses an unknown zone with close matches, never a default', () => {
    const error = (() => {
      try {
        buildFactorSnapshot(factorsOf({ zone: 'Germany' }));
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    const problem = (error as ConfigError).problems[0];
    expect(problem).toMatchObject({ path: 'factors.zone', found: '"Germany"' });
    expect(problem?.expected).toContain('close matches: "DE"');
    expect(() => buildFactorSnapshot(factorsOf({ zone: 'US-CAL' }))).toThrow(/"US-CAL-CISO"/);
    expect(() => buildFactorSnapshot(factorsOf({ zone: 'ZZZZZZZZZZ' }))).toThrow(/no close match/);
    expect(() => buildFactorSnapshot(factorsOf({ zone: 'DE', gridIntensityYear: 2019 }))).toThrow(
      /factors\.gridIntensityYear/,
    );
  });
});

describe('factors config', () => {
  const problemsOf = (factors: Record<string, unknown>) => {
    try {
      validateLayers([{ source: 'test.yaml', values: { factors } }]);
      return [];
    } catch (error) {
      return (error as ConfigError).problems.map((p) => p.path).sort();
    }
  };

  it('requires provenance for every factor the operator supplies', () => {
    expect(problemsOf({ gridIntensityMilligramsPerKilowattHour: 1 })).toEqual([
      'factors.gridIntensityNote',
      'factors.zone',
    ]);
    expect(problemsOf({ wueMillilitersPerKilowattHour: 1, ewifMillilitersPerKilowattHour: 1 })).toEqual([
      'factors.ewifSource',
      'factors.wueSource',
    ]);
    expect(problemsOf({ energySource: { kind: 'contracted' } })).toEqual([
      'factors.energySource.description',
    ]);
    expect(problemsOf({ market: { gridIntensityMilligramsPerKilowattHour: 1 } })).toEqual([
      'factors.market.instrument',
      'factors.market.note',
    ]);
    expect(problemsOf({ pueMilli: 999 })).toEqual(['factors.pueMilli']);
    expect(problemsOf({ pueMilli: 1.2 })).toEqual(['factors.pueMilli']);
    expect(problemsOf(FULL)).toEqual([]);
  });
});
