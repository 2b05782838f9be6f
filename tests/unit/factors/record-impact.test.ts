import { describe, expect, it } from 'vitest';
import { canonicalString } from '../../../src/attest/canonical.js';
import { configSchema } from '../../../src/config/schema.js';
import { MICROJOULES_PER_KILOWATT_HOUR as KWH } from '../../../src/factors/impact.js';
import { recordActiveImpact, withComprehensive } from '../../../src/factors/record-impact.js';
import { buildFactorSnapshot } from '../../../src/factors/snapshot.js';

const factors = buildFactorSnapshot(
  configSchema.parse({
    factors: {
      pueMilli: 1200,
      zone: 'TEST',
      gridIntensityMilligramsPerKilowattHour: 400_000,
      gridIntensityNote: 'test value',
    },
  }).factors,
);

const record = {
  requestId: 'r1',
  activeEnergyMicroJoules: (KWH / 2n).toString(),
  hostEnergyMicroJoules: (KWH / 4n).toString(),
  comprehensive: null,
};

describe('request records', () => {
  it('fills comprehensive from active + idle share + host, × PUE, as decimal strings', () => {
    const filled = withComprehensive(record, factors, KWH / 4n);
    expect(filled).toEqual({
      requestId: 'r1',
      activeEnergyMicroJoules: '1800000000000',
      hostEnergyMicroJoules: '900000000000',
      comprehensive: {
        boundary: 'comprehensive',
        activeEnergyMicroJoules: '1800000000000',
        idleShareMicroJoules: '900000000000',
        hostEnergyMicroJoules: '900000000000',
        itEnergyMicroJoules: '3600000000000',
        pueMilli: 1200,
        facilityEnergyMicroJoules: '4320000000000',
        co2eLocationMicrograms: '480000000',
        co2eMarketMicrograms: null,
        waterOnSiteMicroliters: '0',
        waterOffSiteMicroliters: null,
        waterMicroliters: null,
      },
    });
    expect(() => canonicalString(filled)).not.toThrow();
    expect(record.comprehensive).toBeNull();
  });

  it('gives the active boundary on its own, without PUE', () => {
    expect(recordActiveImpact(record, factors)).toMatchObject({
      boundary: 'active',
      itEnergyMicroJoules: '1800000000000',
      pueMilli: 1000,
      co2eLocationMicrograms: '200000000',
    });
  });

  it('keeps values past 2^53 exact as strings', () => {
    const big = { ...record, activeEnergyMicroJoules: (2n ** 60n).toString(), hostEnergyMicroJoules: '0' };
    expect(withComprehensive(big, factors, 0n).comprehensive.facilityEnergyMicroJoules).toBe(
      '1383505805528216371',
    );
  });

  it('refuses a record whose energy is not a decimal string', () => {
    expect(() => withComprehensive({ ...record, activeEnergyMicroJoules: '-1' }, factors, 0n)).toThrow(
      TypeError,
    );
    expect(() => withComprehensive({ ...record, hostEnergyMicroJoules: '1e3' }, factors, 0n)).toThrow(
      TypeError,
    );
  });
});
