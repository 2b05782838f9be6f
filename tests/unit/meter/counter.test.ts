import { describe, expect, it } from 'vitest';
import { EnergyCounter } from '../../../src/meter/counter.js';

// Values from the real package-0 zone in tests/fixtures/powercap/procfs-testdata-intel-rapl
// (prometheus/procfs, see SOURCES.md): max_energy_range_uj 262143328850.
const RAPL_RANGE = 262_143_328_850n;

describe('EnergyCounter', () => {
  it('takes the first reading as the baseline', () => {
    expect(new EnergyCounter().step(5n)).toEqual({ kind: 'first' });
  });

  it('returns the exact delta between readings', () => {
    const counter = new EnergyCounter(RAPL_RANGE);
    counter.step(240_422_366_267n);
    expect(counter.step(240_432_366_267n)).toEqual({
      kind: 'delta',
      energyMicroJoules: 10_000_000n,
      wrapped: false,
    });
  });

  it('pins the wrap convention: delta = (max - previous) + current', () => {
    const counter = new EnergyCounter(RAPL_RANGE);
    counter.step(RAPL_RANGE - 1_000n);
    expect(counter.step(500n)).toEqual({ kind: 'delta', energyMicroJoules: 1_500n, wrapped: true });
  });

  it('treats a decrease without a wrap range as a reset, never a negative delta', () => {
    const counter = new EnergyCounter();
    counter.step(9_000_000n);
    expect(counter.step(1_000n)).toEqual({
      kind: 'reset',
      previousMicroJoules: 9_000_000n,
      currentMicroJoules: 1_000n,
    });
    // The reset value becomes the new baseline.
    expect(counter.step(3_000n)).toEqual({ kind: 'delta', energyMicroJoules: 2_000n, wrapped: false });
  });

  it('treats a decrease from above the wrap range as a reset (the range cannot explain it)', () => {
    const counter = new EnergyCounter(1_000n);
    counter.step(5_000n);
    expect(counter.step(10n).kind).toBe('reset');
  });

  it('flags a delta above the plausibility ceiling (e.g. more than one wrap)', () => {
    const counter = new EnergyCounter(RAPL_RANGE);
    counter.step(0n);
    expect(counter.step(50_000_000n, 10_000_000n)).toEqual({
      kind: 'implausible',
      energyMicroJoules: 50_000_000n,
      ceilingMicroJoules: 10_000_000n,
    });
  });

  it('never yields a negative delta over a seeded random walk with wraps and resets', () => {
    let seed = 12345;
    const next = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed;
    };
    const range = 1_000_000n;
    const counter = new EnergyCounter(range);
    let value = 0n;
    for (let i = 0; i < 10_000; i++) {
      value = (value + BigInt(next() % 200_000)) % (range + 1n);
      const step = counter.step(value);
      if (step.kind === 'delta') expect(step.energyMicroJoules >= 0n).toBe(true);
    }
  });
});
