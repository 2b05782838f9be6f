/**
 * checkBatch decides the usual case on Numbers (src/verify/small-integers.ts) and anything else on
 * BigInt: at the edges where Numbers stop being exact (2^53, 16-digit values, products rounded as
 * doubles) every finding must still be made, and no false one.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { BatchStatement, WireDevice } from '../../../src/attest/batch-format.js';
import { bytesFromBase64, stringFromUtf8 } from '../../../src/attest/bytes.js';
import { checkBatch, devicesDigest } from '../../../src/verify/batch-checks.js';
import { ledgerLines, writeLedger } from '../../helpers/ledger-fixture.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

let template: BatchStatement;

beforeAll(async () => {
  const { dir, cleanup } = await makeTmpDir();
  await writeLedger(dir, { ticks: 30, batchIntervalMs: 1000 });
  const [line] = (await ledgerLines(dir)).slice(1);
  template = JSON.parse(stringFromUtf8(bytesFromBase64(JSON.parse(line as string).payload)));
  await cleanup();
});

type MutableDevice = Omit<{ -readonly [K in keyof WireDevice]: WireDevice[K] }, 'attribution'> & {
  attribution: Record<string, unknown> & { resolved: Record<string, unknown> };
};

/**
 * A statement whose devices all account `energy` µJ as unattributed, over `coveredNanos`; with
 * `spanNanos`, its window lasts that long (the template's otherwise).
 */
function statementWith(
  energies: readonly string[],
  edit: (d: MutableDevice, i: number) => void = () => {},
  spanNanos?: bigint,
): BatchStatement {
  const s = structuredClone(template) as unknown as {
    predicate: {
      devices: MutableDevice[];
      totals: Record<string, string>;
      window: Record<string, string>;
    };
  };
  if (spanNanos !== undefined) {
    const w = s.predicate.window;
    w.endMonoNanos = (BigInt(w.startMonoNanos as string) + spanNanos).toString();
    w.endUnixNanos = (BigInt(w.startUnixNanos as string) + spanNanos).toString();
    w.downtimeNanos = '0';
  }
  const base = s.predicate.devices[0] as MutableDevice;
  s.predicate.devices = energies.map((energy, i) => {
    const d = structuredClone(base);
    d.deviceId = `GPU-${i}`;
    d.hwType = 'gpu';
    d.accounting = 'additive';
    d.energySource = 'integrated-power';
    d.integratedEnergyMicroJoules = energy;
    d.energyMicroJoules = energy;
    d.comparedCounterMicroJoules = '0';
    d.residualMicroJoules = '0';
    d.powerLimitMilliWatts = null;
    d.peakPowerMilliWatts = null;
    Object.assign(d.attribution, {
      requestsMicroJoules: '0',
      idleMicroJoules: '0',
      unattributedMicroJoules: energy,
      deferredMicroJoules: '0',
      idleSharedMicroJoules: '0',
      idleUnsharedMicroJoules: '0',
      idleBaseline: null,
    });
    edit(d, i);
    return d;
  });
  const sum = energies.reduce((a, e) => a + BigInt(e), 0n).toString();
  s.predicate.totals = {
    energyMicroJoules: sum,
    gpuEnergyMicroJoules: sum,
    cpuEnergyMicroJoules: '0',
    dramEnergyMicroJoules: '0',
  };
  return s as unknown as BatchStatement;
}

function checksOf(statement: BatchStatement): string[] {
  const digest = devicesDigest(statement.predicate.devices, undefined);
  (statement.subject[0].digest as { sha256: string }).sha256 = digest;
  return checkBatch(statement, 'x', { devicesSha256: digest }).map((f) => `${f.check}:${f.found}`);
}

describe('checkBatch on Numbers and BigInt', () => {
  it('passes a consistent batch and names a one-µJ error in 15- and 16-digit values', () => {
    expect(checksOf(statementWith(['123456789012345', '5']))).toEqual([]);
    for (const energy of ['999999999999999', '9007199254740993', '123456789012345678']) {
      expect(checksOf(statementWith([energy]))).toEqual([]);
      const off = statementWith([energy], (d) => {
        d.attribution.unattributedMicroJoules = (BigInt(energy) - 1n).toString();
      });
      expect(checksOf(off)).toEqual([`conservation:${energy}`]);
    }
  });

  it('catches totals that are only right after rounding to a double', () => {
    // Eleven 15-digit energies sum beyond 2^53, where adjacent integers round to one double.
    const energies = Array.from({ length: 11 }, () => '900719925474099');
    const statement = statementWith(energies) as unknown as {
      predicate: { totals: { energyMicroJoules: string; gpuEnergyMicroJoules: string } };
    };
    expect(checksOf(statement as unknown as BatchStatement)).toEqual([]);
    const exact = BigInt(statement.predicate.totals.energyMicroJoules);
    const rounded = BigInt(Number(exact));
    const wrong = rounded === exact ? exact + 1n : rounded;
    expect(Number(wrong)).toBe(Number(exact));
    statement.predicate.totals.energyMicroJoules = wrong.toString();
    expect(checksOf(statement as unknown as BatchStatement)).toEqual([`totals:${wrong}`]);
  });

  it('holds the idle and energy ceilings to the exact µJ at large products', () => {
    const covered = 999_999_999_999_999n; // ~11.6 days, 15 digits
    const maxPower = 999_999_999n;
    const idleCeiling = (maxPower * covered) / 1_000_000n;
    const withIdle = (idle: bigint) =>
      statementWith(
        [idle.toString()],
        (d) => {
          d.coveredNanos = covered.toString();
          Object.assign(d.attribution, {
            unattributedMicroJoules: '0',
            idleMicroJoules: idle.toString(),
            idleUnsharedMicroJoules: idle.toString(),
            idleBaseline: {
              source: 'configured',
              powerMilliWatts: 1,
              minPowerMilliWatts: 1,
              maxPowerMilliWatts: Number(maxPower),
              sampleCount: 0,
              idleNanos: '0',
            },
          });
        },
        covered,
      );
    expect(checksOf(withIdle(idleCeiling))).toEqual([]);
    expect(checksOf(withIdle(idleCeiling + 1n))).toEqual([`idle-ceiling:${idleCeiling + 1n}`]);

    // The energy ceiling is the batch's span (never coveredNanos) × limit × 12/10.
    const limit = 600_000n;
    const energyCeiling = (limit * covered * 12n) / 10_000_000n;
    const withEnergy = (energy: bigint) =>
      statementWith(
        [energy.toString()],
        (d) => {
          d.coveredNanos = covered.toString();
          d.powerLimitMilliWatts = Number(limit);
        },
        covered,
      );
    expect(checksOf(withEnergy(energyCeiling))).toEqual([]);
    expect(checksOf(withEnergy(energyCeiling + 1n))).toEqual([`energy-ceiling:${energyCeiling + 1n}`]);
  });

  it('does not let a product rounded as a double hide a one-µJ excess (15-digit ceilings)', () => {
    // max × covered ≡ 999999 (mod 10^6) near 9·10^20, where doubles are 131072 apart: idle =
    // ceiling + 1 is 1 µJ·10^6 over, which the rounded products cannot see.
    const maxPower = 999_999_999n;
    const covered = 900_000_000_001n;
    const ceiling = (maxPower * covered) / 1_000_000n;
    expect(ceiling.toString()).toHaveLength(15);
    expect(Number((ceiling + 1n) * 1_000_000n)).toBe(Number(maxPower * covered));
    const withIdle = (idle: bigint) =>
      statementWith(
        [idle.toString()],
        (d) => {
          d.coveredNanos = covered.toString();
          Object.assign(d.attribution, {
            unattributedMicroJoules: '0',
            idleMicroJoules: idle.toString(),
            idleUnsharedMicroJoules: idle.toString(),
            idleBaseline: {
              source: 'configured',
              powerMilliWatts: 1,
              minPowerMilliWatts: 1,
              maxPowerMilliWatts: Number(maxPower),
              sampleCount: 0,
              idleNanos: '0',
            },
          });
        },
        covered,
      );
    expect(checksOf(withIdle(ceiling))).toEqual([]);
    expect(checksOf(withIdle(ceiling + 1n))).toEqual([`idle-ceiling:${ceiling + 1n}`]);

    // The same at the energy ceiling: limit × span × 12 ≡ 9999988 (mod 10^7), so ceiling + 1
    // is over by 12 parts in 10^21, below what the rounded doubles can see.
    const limit = 499_999_999n;
    const span = 899_000_000_001n;
    const energyCeiling = (limit * span * 12n) / 10_000_000n;
    expect(energyCeiling.toString()).toHaveLength(15);
    expect(Number((energyCeiling + 1n) * 10_000_000n)).toBe(Number(limit * span * 12n));
    const withEnergy = (energy: bigint) =>
      statementWith(
        [energy.toString()],
        (d) => {
          d.coveredNanos = span.toString();
          d.powerLimitMilliWatts = Number(limit);
        },
        span,
      );
    expect(checksOf(withEnergy(energyCeiling))).toEqual([]);
    expect(checksOf(withEnergy(energyCeiling + 1n))).toEqual([`energy-ceiling:${energyCeiling + 1n}`]);
  });

  it('checks counter arithmetic on 17- to 30-digit counters to the µJ', () => {
    const counter = (start: string, end: string, energy: bigint) =>
      statementWith([energy.toString()], (d) => {
        d.energySource = 'counter';
        d.counterStartMicroJoules = start;
        d.counterEndMicroJoules = end;
        d.counterEnergyMicroJoules = energy.toString();
        d.fallbackEnergyMicroJoules = '0';
        d.downtimeEnergyMicroJoules = '0';
        d.wrapCount = 0;
        d.discontinuities = [];
      });
    const cases: [string, string][] = [
      ['19817280192500001', '19817280242214000'], // 17 digits, same high part
      ['19817280999999999', '19817281000000003'], // across a 10^15 boundary
      ['900719925474099', '9007199254740993'], // 15 vs 16 digits, Number(end) rounds
      ['1', '8999999999999999'], // 8 limbs apart
      ['1', '9999999999999999'], // 9 limbs apart: BigInt decides
      ['123456789012345678901234567890', '123456789012345678901234567899'],
      ['5', '5'],
    ];
    for (const [start, end] of cases) {
      const energy = BigInt(end) - BigInt(start);
      expect(checksOf(counter(start, end, energy)), `${start}..${end}`).toEqual([]);
      const off = counter(start, end, energy + 1n);
      expect(checksOf(off), `${start}..${end} + 1`).toEqual([`counter-arithmetic:${energy + 1n}`]);
    }
  });

  it('checks the residual bounds and idle splits at 15 digits', () => {
    const e = '100000000000000';
    const residual = (compared: string, r: string) =>
      statementWith([e], (d) => {
        d.comparedCounterMicroJoules = compared;
        d.residualMicroJoules = r;
      });
    expect(checksOf(residual(e, '0'))).toEqual([]);
    expect(checksOf(residual('0', '-1'))).toEqual([]);
    expect(checksOf(residual(e, '-1'))).toEqual([`residual:${BigInt(e) + 1n}`]);
    expect(checksOf(residual('0', '1'))).toEqual(['residual:-1']);
    const split = statementWith([e], (d) => {
      d.attribution.resolved = {
        ...d.attribution.resolved,
        idleMicroJoules: '999999999999999',
        idleSharedMicroJoules: '999999999999998',
        idleUnsharedMicroJoules: '0',
      };
    });
    expect(checksOf(split)).toEqual(['idle-split:999999999999999']);
  });
});
