import type { BatchPredicate, WireDevice } from '../attest/batch-format.js';
import { type Finding, finding } from './findings.js';
import { certainlyAtMostProduct, difference, safe, small } from './small-integers.js';

/**
 * Physics and time of one batch on its own (FORMAT.md §8 step 7): the window runs forwards, no
 * device claims more covered time than the window spans, and no device's energy exceeds its power
 * limit × that span × 12/10. The span is the batch's own window (`endMono − startMono +
 * downtime`), never a number a device declares about itself (`coveredNanos`). Declared counter
 * jumps must be what they say they are. All on BigInt; `physicsPassesExactly` decides the common
 * case on Numbers where that is exact, and the BigInt checks make every finding.
 */

/** The energy ceiling's margin over the power limit: limit × span × 12 / 10 (20 %). */
export const ENERGY_MARGIN_NUMERATOR = 12n;
export const ENERGY_MARGIN_DENOMINATOR = 10n;

type Where = { readonly sequence: string; readonly location: string };

/**
 * The batch's span in nanoseconds: `(endMono − startMono) + downtime`, or 0 when the window runs
 * backwards (then `window-order` reports it, and every positive claim against the span fails too).
 */
export function batchSpanNanos(p: BatchPredicate): bigint {
  const w = p.window;
  const length = BigInt(w.endMonoNanos) - BigInt(w.startMonoNanos);
  return length < 0n ? 0n : length + BigInt(w.downtimeNanos);
}

/** The span as a Number when that is exact, else undefined. */
export function batchSpanNumber(p: BatchPredicate): number | undefined {
  const w = p.window;
  const length = difference(w.endMonoNanos, w.startMonoNanos);
  const downtime = small(w.downtimeNanos);
  if (length === undefined || downtime === undefined || length < 0) return undefined;
  return safe(length + downtime);
}

/** The window runs forwards on both clocks (`window-order`); batch 0 has no downtime (`downtime`). */
export function checkWindowShape(p: BatchPredicate, where: Where): Finding[] {
  const w = p.window;
  const out: Finding[] = [];
  for (const [clock, start, end] of [
    ['monotonic', w.startMonoNanos, w.endMonoNanos],
    ['wall', w.startUnixNanos, w.endUnixNanos],
  ] as const) {
    if (compareDecimal(end, start) < 0) {
      out.push(
        finding(
          'VERIFY_IMPLAUSIBLE',
          where,
          'window-order',
          `the window ends before it starts (${clock} clock)`,
          {
            expected: `>= ${start}`,
            found: end,
          },
        ),
      );
    }
  }
  if (p.sequence === '0' && w.downtimeNanos !== '0') {
    out.push(
      finding(
        'VERIFY_IMPLAUSIBLE',
        where,
        'downtime',
        'batch 0 declares agent downtime, but no batch came before it',
        {
          expected: '0',
          found: w.downtimeNanos,
        },
      ),
    );
  }
  return out;
}

/**
 * True only when every check of {@link checkDevicePhysics} certainly passes, decided on Numbers
 * (`span` from {@link batchSpanNumber}); false when one fails or cannot be decided so.
 */
export function physicsPassesExactly(d: WireDevice, span: number | undefined): boolean {
  const covered = small(d.coveredNanos);
  const energy = small(d.energyMicroJoules);
  if (span === undefined || covered === undefined || energy === undefined || covered > span) return false;
  if (
    d.powerLimitMilliWatts !== null &&
    !certainlyAtMostProduct(energy * Number(ENERGY_MARGIN_DENOMINATOR), d.powerLimitMilliWatts * 12, span)
  )
    return false;
  return jumpProblems(d).length === 0 && wrapProblem(d) === null;
}

/**
 * One device against its batch's span: `covered-span` (coveredNanos ≤ span), `energy-ceiling`
 * (energy × 10^6 ≤ limit × span × 12/10, µJ = mW × ns / 10^6), `discontinuity` (a declared reset
 * went down; an implausible jump of a counter that cannot wrap went up) and `wrap-range` (wraps
 * only with a wrap range).
 */
export function checkDevicePhysics(d: WireDevice, span: bigint, where: Where): Finding[] {
  const out: Finding[] = [];
  const id = d.deviceId;
  if (BigInt(d.coveredNanos) > span) {
    out.push(
      finding(
        'VERIFY_IMPLAUSIBLE',
        where,
        'covered-span',
        `${id}: covers more time than the batch window spans`,
        {
          expected: `<= ${span}`,
          found: d.coveredNanos,
        },
      ),
    );
  }
  if (d.powerLimitMilliWatts !== null) {
    const energy = BigInt(d.energyMicroJoules);
    const limit = BigInt(d.powerLimitMilliWatts);
    if (energy * 1_000_000n * ENERGY_MARGIN_DENOMINATOR > limit * span * ENERGY_MARGIN_NUMERATOR) {
      const ceiling = (limit * span * ENERGY_MARGIN_NUMERATOR) / (1_000_000n * ENERGY_MARGIN_DENOMINATOR);
      out.push(
        finding(
          'VERIFY_IMPLAUSIBLE',
          where,
          'energy-ceiling',
          `${id}: more energy than its power limit (${d.powerLimitMilliWatts} mW) × 1.2 allows over the batch's ${span} ns`,
          { expected: `<= ${ceiling}`, found: d.energyMicroJoules },
        ),
      );
    }
  }
  for (const problem of jumpProblems(d))
    out.push(
      finding('VERIFY_COUNTER_DISCONTINUITY', where, 'discontinuity', `${id}: ${problem.message}`, problem),
    );
  const wrap = wrapProblem(d);
  if (wrap !== null) out.push(finding('VERIFY_IMPLAUSIBLE', where, 'wrap-range', `${id}: ${wrap}`));
  return out;
}

/** Declared jumps that contradict their reason. */
function jumpProblems(d: WireDevice): { message: string; expected: string; found: string }[] {
  const out: { message: string; expected: string; found: string }[] = [];
  for (const jump of d.discontinuities) {
    const direction = compareDecimal(jump.toMicroJoules, jump.fromMicroJoules);
    const found = `${jump.fromMicroJoules} → ${jump.toMicroJoules}`;
    if (jump.reason === 'counter-reset' && direction >= 0)
      out.push({
        message: 'a declared counter reset where the counter did not go down',
        expected: 'to < from',
        found,
      });
    else if (jump.reason === 'implausible-counter' && d.wrapRangeMicroJoules === null && direction <= 0)
      out.push({
        message: 'a declared implausible jump of a counter that cannot wrap, where it did not go up',
        expected: 'to > from',
        found,
      });
  }
  return out;
}

function wrapProblem(d: WireDevice): string | null {
  if (d.wrapCount > 0 && d.wrapRangeMicroJoules === null)
    return `${d.wrapCount} wraps declared for a counter without a wrap range`;
  if (d.wrapRangeMicroJoules === '0') return 'a wrap range of 0';
  return null;
}

/** Compares two schema-checked decimal strings (no sign, no leading zeros): −1, 0 or 1. */
export function compareDecimal(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
