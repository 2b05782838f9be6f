import type { MicroJoules } from '../units.js';

/**
 * Turns successive raw readings of a cumulative energy counter into deltas, detecting wraps and
 * resets. A pure state machine: no I/O, no clock.
 *
 * Wrap convention (pinned by a test vector): a RAPL counter counts up to `max_energy_range_uj` and
 * continues from 0, so after a wrap `delta = (max - previous) + current`. This follows the kernel's
 * documentation and what Kepler and Alumet do. The hardware counter's true modulus is
 * `max + one energy unit` (15.3 µJ or 61 µJ), so each wrap undercounts by that one unit; at about
 * one wrap per 20 minutes per socket that is below 10^-9 of the energy and is documented, not hidden.
 *
 * Without a wrap range (NVML: "mJ since the driver was last reloaded"), any decrease is a reset:
 * the energy between the last reading and the reset is unknown, and the caller records a gap.
 */
export type CounterStep =
  | { readonly kind: 'first' }
  | { readonly kind: 'delta'; readonly energyMicroJoules: MicroJoules; readonly wrapped: boolean }
  | {
      readonly kind: 'reset';
      readonly previousMicroJoules: MicroJoules;
      readonly currentMicroJoules: MicroJoules;
    }
  | {
      readonly kind: 'implausible';
      readonly energyMicroJoules: MicroJoules;
      readonly ceilingMicroJoules: MicroJoules;
    };

export class EnergyCounter {
  private previous: MicroJoules | null = null;
  private readonly wrapMicroJoules: MicroJoules | undefined;

  /** `wrapMicroJoules` is the counter's range (RAPL `max_energy_range_uj`); absent means no wrap. */
  constructor(wrapMicroJoules?: MicroJoules) {
    this.wrapMicroJoules =
      wrapMicroJoules !== undefined && wrapMicroJoules > 0n ? wrapMicroJoules : undefined;
  }

  /** The last raw value accepted, or `null` before the first reading. */
  get lastMicroJoules(): MicroJoules | null {
    return this.previous;
  }

  /**
   * Feeds one raw reading. `ceilingMicroJoules`, when given, is the most energy the device could
   * have used since the previous reading (power limit × elapsed time × margin); a larger delta is
   * reported as `implausible` (e.g. a wrap range too small, or more than one wrap between reads).
   */
  step(currentMicroJoules: MicroJoules, ceilingMicroJoules?: MicroJoules): CounterStep {
    const previous = this.previous;
    this.previous = currentMicroJoules;
    if (previous === null) return { kind: 'first' };
    let energyMicroJoules: MicroJoules;
    let wrapped = false;
    if (currentMicroJoules >= previous) {
      energyMicroJoules = currentMicroJoules - previous;
    } else if (this.wrapMicroJoules !== undefined && previous <= this.wrapMicroJoules) {
      energyMicroJoules = this.wrapMicroJoules - previous + currentMicroJoules;
      wrapped = true;
    } else {
      return { kind: 'reset', previousMicroJoules: previous, currentMicroJoules };
    }
    if (ceilingMicroJoules !== undefined && energyMicroJoules > ceilingMicroJoules) {
      return { kind: 'implausible', energyMicroJoules, ceilingMicroJoules };
    }
    return { kind: 'delta', energyMicroJoules, wrapped };
  }
}
