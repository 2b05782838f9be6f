import { describe, expect, it } from 'vitest';
import {
  averageMilliWatts,
  bigintFromDecimal,
  energyFromConstantPower,
  integratePowerTrapezoid,
  microJoulesFromMilliJoules,
  milliWattsFromDecimalWatts,
} from '../../src/units.js';

describe('units', () => {
  it('converts NVML millijoules to microjoules exactly, beyond 2^53', () => {
    expect(microJoulesFromMilliJoules(123_456_789n)).toBe(123_456_789_000n);
    expect(microJoulesFromMilliJoules(2n ** 60n)).toBe(2n ** 60n * 1000n);
  });

  it('parses nvidia-smi decimal watts without floating point', () => {
    expect(milliWattsFromDecimalWatts('627.40')).toBe(627_400);
    expect(milliWattsFromDecimalWatts('77.71')).toBe(77_710);
    expect(milliWattsFromDecimalWatts('0.1')).toBe(100);
    expect(milliWattsFromDecimalWatts(' 700 ')).toBe(700_000);
    // 0.29 W is 289.999… as a float; the string parser must give 290.
    expect(milliWattsFromDecimalWatts('0.29')).toBe(290);
    expect(milliWattsFromDecimalWatts('1.23456')).toBe(1234);
  });

  it('rejects anything that is not a plain non-negative decimal', () => {
    for (const text of ['', '[N/A]', '-5', '1e3', '12.', '.5', 'NaN', '1,5', '12 W']) {
      expect(milliWattsFromDecimalWatts(text), text).toBeNull();
    }
  });

  it('parses sysfs counters into bigint and rejects garbage', () => {
    expect(bigintFromDecimal('240422366267\n')).toBe(240_422_366_267n);
    expect(bigintFromDecimal('-1')).toBeNull();
    expect(bigintFromDecimal('12abc')).toBeNull();
  });

  it('integrates a trapezoid exactly: 100 W to 300 W over 1 s is 200 J', () => {
    const step = integratePowerTrapezoid(100_000, 300_000, 1_000_000_000n, 0n);
    expect(step.energyMicroJoules).toBe(200_000_000n);
    expect(step.carry).toBe(0n);
  });

  it('carries remainders so a million tiny steps do not drift', () => {
    let carry = 0n;
    let total = 0n;
    // 1 mW for 1 ns steps is 10^-6 µJ each: nothing per step, exactly 1 µJ after 10^6 steps.
    for (let i = 0; i < 1_000_000; i++) {
      const step = integratePowerTrapezoid(1, 1, 1n, carry);
      carry = step.carry;
      total += step.energyMicroJoules;
    }
    expect(total).toBe(1n);
  });

  it('computes constant-power energy and mean power', () => {
    expect(energyFromConstantPower(700_000, 100_000_000n)).toBe(70_000_000n);
    expect(averageMilliWatts(70_000_000n, 100_000_000n)).toBe(700_000);
    expect(averageMilliWatts(1n, 0n)).toBeNull();
  });
});
