import { readFile } from 'node:fs/promises';
import { averageIntensity, electricityMaps } from '@tgwf/co2/data';
import { describe, expect, it } from 'vitest';
import {
  electricityMapsYears,
  GRID_DATA_PACKAGE,
  lookupGridIntensity,
  milligramsFromGrams,
} from '../../../src/factors/grid-data.js';
import { closeZoneMatches, editDistance } from '../../../src/factors/zone-match.js';

const root = new URL('../../../', import.meta.url);
const readJson = async (path: string) => JSON.parse(await readFile(new URL(path, root), 'utf8'));

describe('grid intensity data (@tgwf/co2)', () => {
  it('names the exact package version that is installed and pinned', async () => {
    const pkg = await readJson('package.json');
    const installed = await readJson('node_modules/@tgwf/co2/package.json');
    expect(GRID_DATA_PACKAGE).toBe(`@tgwf/co2@${pkg.dependencies['@tgwf/co2']}`);
    expect(installed.version).toBe(pkg.dependencies['@tgwf/co2']);
  });

  it('reads an Electricity Maps zone with source, year, value and the ODbL', () => {
    const found = lookupGridIntensity('DE', 2025);
    expect(found).toEqual({
      ok: true,
      intensity: {
        zone: 'DE',
        zoneName: 'Germany',
        source: 'electricity-maps',
        dataset: '@tgwf/co2@0.19.0 electricityMaps.yearly2025',
        year: 2025,
        gridIntensityMilligramsCo2ePerKilowattHour: 342_000,
        licence: 'ODbL-1.0',
        attribution: expect.stringContaining('Electricity Maps'),
      },
    });
    expect(lookupGridIntensity('DE', null)).toEqual(found);
    expect(lookupGridIntensity('DE', 2021)).toMatchObject({
      intensity: { year: 2021, gridIntensityMilligramsCo2ePerKilowattHour: 439_000 },
    });
    expect(lookupGridIntensity('US-CAL-CISO', null)).toMatchObject({ intensity: { zone: 'US-CAL-CISO' } });
  });

  it('reads an Ember country average exactly, with CC BY-SA 4.0 and no invented year', () => {
    expect(lookupGridIntensity('DEU', null)).toEqual({
      ok: true,
      intensity: {
        zone: 'DEU',
        zoneName: null,
        source: 'ember',
        dataset: '@tgwf/co2@0.19.0 averageIntensity',
        year: null,
        gridIntensityMilligramsCo2ePerKilowattHour: 342_060,
        licence: 'CC-BY-SA-4.0',
        attribution: expect.stringContaining('Ember'),
      },
    });
    expect(lookupGridIntensity('USA', null)).toMatchObject({
      intensity: { gridIntensityMilligramsCo2ePerKilowattHour: 383_550 },
    });
  });

  it('fails on an unknown zone or year instead of falling back', () => {
    expect(lookupGridIntensity('de', null)).toMatchObject({ ok: false, failure: { field: 'zone' } });
    expect(lookupGridIntensity('DE', 1999)).toMatchObject({
      ok: false,
      failure: {
        field: 'gridIntensityYear',
        expected: expect.stringContaining('2021, 2022, 2023, 2024, 2025'),
      },
    });
    expect(lookupGridIntensity('DEU', 2024)).toMatchObject({
      ok: false,
      failure: { field: 'gridIntensityYear' },
    });
  });

  it('converts every value of the package to integer mg exactly; the two key sets are disjoint', () => {
    expect(electricityMapsYears()).toEqual([2021, 2022, 2023, 2024, 2025]);
    for (const [zone, grams] of Object.entries(averageIntensity.data)) {
      const milligrams = milligramsFromGrams(grams);
      expect(Number.isSafeInteger(milligrams), zone).toBe(true);
      expect(Math.abs(milligrams - grams * 1000), zone).toBeLessThan(1e-6);
    }
    for (const table of Object.values(electricityMaps)) {
      for (const [zone, entry] of Object.entries(table.data)) {
        expect(Object.hasOwn(averageIntensity.data, zone), zone).toBe(false);
        expect(milligramsFromGrams(entry.carbonIntensity.value)).toBe(entry.carbonIntensity.value * 1000);
      }
    }
    expect(milligramsFromGrams(383.55)).toBe(383_550);
    expect(() => milligramsFromGrams(0.1234)).toThrow(/not convertible/);
    expect(() => milligramsFromGrams(-1)).toThrow(/not convertible/);
  });
});

describe('close zone matches', () => {
  const candidates = [
    { id: 'DE', names: ['Germany'] },
    { id: 'DK', names: ['Denmark'] },
    { id: 'DEU', names: [] },
    { id: 'US-CAL-CISO', names: ['CAISO'] },
    { id: 'US-CAL-LDWP', names: ['Los Angeles'] },
    { id: 'FR', names: ['France'] },
  ];

  it('finds a zone by case, name, typo or prefix', () => {
    expect(closeZoneMatches('de', candidates)[0]).toBe('DE');
    expect(closeZoneMatches('Germany', candidates)).toEqual(['DE']);
    expect(closeZoneMatches('Germny', candidates)).toEqual(['DE']);
    expect(closeZoneMatches('US-CAL', candidates)).toEqual(['US-CAL-CISO', 'US-CAL-LDWP']);
    expect(closeZoneMatches('angeles', candidates)).toEqual(['US-CAL-LDWP']);
    expect(closeZoneMatches('QQQQQQ', candidates)).toEqual([]);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });
});
