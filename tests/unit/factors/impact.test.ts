import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
import {
  activeImpact,
  co2eMicrograms,
  comprehensiveImpact,
  facilityEnergyMicroJoules,
  floorQuotient,
  MICROJOULES_PER_KILOWATT_HOUR,
  waterOffSiteMicroliters,
  waterOnSiteMicroliters,
} from '../../../src/factors/impact.js';
import { buildFactorSnapshot, type FactorSnapshot } from '../../../src/factors/snapshot.js';

const KWH = MICROJOULES_PER_KILOWATT_HOUR;

/** A snapshot with an operator intensity, so the numbers here do not move with the data package. */
function snapshot(overrides: Record<string, unknown> = {}): FactorSnapshot {
  return buildFactorSnapshot(
    configSchema.parse({
      factors: {
        pueMilli: 1200,
        zone: 'TEST',
        gridIntensityMilligramsPerKilowattHour: 400_000,
        gridIntensityNote: 'test value',
        ...overrides,
      },
    }).factors,
  );
}

describe('factor arithmetic', () => {
  it('1 kWh at 400 g/kWh and PUE 1.2 is exactly 480 g', () => {
    expect(KWH).toBe(3_600_000_000_000n);
    expect(co2eMicrograms(KWH, 1200, 400_000)).toBe(480_000_000n);
    expect(facilityEnergyMicroJoules(KWH, 1200)).toBe(4_320_000_000_000n);
  });

  it('water: on-site from IT energy, off-site from facility energy (Li et al. US averages)', () => {
    expect(waterOnSiteMicroliters(KWH, 550)).toBe(550_000n);
    expect(waterOffSiteMicroliters(KWH, 1170, 3140)).toBe(3_673_800n);
  });

  it('rounds by floor, never to nearest, and only once', () => {
    const wattHour = KWH / 1000n;
    expect(co2eMicrograms(wattHour, 1000, 400_000)).toBe(400_000n);
    expect(co2eMicrograms(wattHour + 1n, 1000, 400_000)).toBe(400_000n);
    // 399 999.99988… µg: nearest would be 400 000.
    expect(co2eMicrograms(wattHour - 1n, 1000, 400_000)).toBe(399_999n);
    // 1498.5 µJ: half-up would give 1499.
    expect(facilityEnergyMicroJoules(999n, 1500)).toBe(1498n);
    expect(facilityEnergyMicroJoules(1001n, 1200)).toBe(1201n);
    // One division of the exact product, not kWh rounded first: 1 µJ still has its share.
    expect(co2eMicrograms(9_000n, 1000, 400_000)).toBe(1n);
    expect(floorQuotient(7n, 2n)).toBe(3n);
    expect(() => floorQuotient(-7n, 2n)).toThrow(RangeError);
  });

  it('is exact for 2^60 and 2^70 µJ, beyond what a double holds', () => {
    const big = 2n ** 60n;
    expect(facilityEnergyMicroJoules(big, 1200)).toBe(1_383_505_805_528_216_371n);
    expect(BigInt(Number(big) * 1.2)).not.toBe(1_383_505_805_528_216_371n);
    expect(co2eMicrograms(big, 1200, 400_000)).toBe(153_722_867_280_912n);
    const huge = 2n ** 70n;
    expect(co2eMicrograms(huge, 1200, 400_000)).toBe(157_412_216_095_654_840n);
    expect(waterOnSiteMicroliters(huge, 550)).toBe(180_368_164_276_271n);
    expect(waterOffSiteMicroliters(huge, 1170, 3140)).toBe(1_204_793_748_942_118n);
  });
});

describe('boundaries', () => {
  const factors = snapshot({
    market: { gridIntensityMilligramsPerKilowattHour: 50_000, instrument: 'PPA', note: 'contract 42' },
    wueMillilitersPerKilowattHour: 550,
    wueSource: 'facility report 2025',
    ewifMillilitersPerKilowattHour: 3140,
    ewifSource: 'Li et al. 2023, US average',
  });

  it('active: only the active energy, no PUE', () => {
    const active = activeImpact(KWH, factors);
    expect(active).toEqual({
      boundary: 'active',
      itEnergyMicroJoules: KWH,
      pueMilli: 1000,
      facilityEnergyMicroJoules: KWH,
      co2eLocationMicrograms: 400_000_000n,
      co2eMarketMicrograms: 50_000_000n,
      waterOnSiteMicroliters: 550_000n,
      waterOffSiteMicroliters: 3_140_000n,
      waterMicroliters: 3_690_000n,
    });
  });

  it('comprehensive: active + idle share + host, × PUE, with its parts', () => {
    const inputs = { activeMicroJoules: KWH / 2n, idleShareMicroJoules: KWH / 4n, hostMicroJoules: KWH / 4n };
    const comprehensive = comprehensiveImpact(inputs, factors);
    expect(comprehensive).toMatchObject({
      boundary: 'comprehensive',
      ...inputs,
      itEnergyMicroJoules: KWH,
      pueMilli: 1200,
      facilityEnergyMicroJoules: 4_320_000_000_000n,
      co2eLocationMicrograms: 480_000_000n,
      co2eMarketMicrograms: 60_000_000n,
      waterOnSiteMicroliters: 550_000n,
      waterOffSiteMicroliters: 3_768_000n,
      waterMicroliters: 4_318_000n,
    });
    // The active figure is not folded into, nor taken from, the comprehensive one.
    const active = activeImpact(inputs.activeMicroJoules, factors);
    expect(active.co2eLocationMicrograms).toBe(200_000_000n);
    expect(active.boundary).toBe('active');
  });

  it('keeps location and market apart and never guesses a missing factor', () => {
    const withoutMarket = activeImpact(KWH, snapshot());
    expect(withoutMarket.co2eLocationMicrograms).toBe(400_000_000n);
    expect(withoutMarket.co2eMarketMicrograms).toBeNull();
    const bare = buildFactorSnapshot(configSchema.parse({}).factors);
    const impact = comprehensiveImpact(
      { activeMicroJoules: KWH, idleShareMicroJoules: 0n, hostMicroJoules: 0n },
      bare,
    );
    expect(impact.co2eLocationMicrograms).toBeNull();
    expect(impact.co2eMarketMicrograms).toBeNull();
    expect(impact.waterOnSiteMicroliters).toBe(0n);
    expect(impact.waterOffSiteMicroliters).toBeNull();
    expect(impact.waterMicroliters).toBeNull();
  });

  it('refuses negative energy', () => {
    expect(() => activeImpact(-1n, factors)).toThrow(RangeError);
    expect(() =>
      comprehensiveImpact({ activeMicroJoules: 1n, idleShareMicroJoules: -1n, hostMicroJoules: 0n }, factors),
    ).toThrow(RangeError);
  });
});
