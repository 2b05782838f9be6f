import type { Config } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { type MilliWatts, NANOS_PER_MILLI } from '../units.js';
import { LearnedIdleBaseline, type LearnedIdleOptions } from './idle-learner.js';
import { configuredIdleBaseline, type IdleBaseline, type IdleBaselineUse } from './types.js';

/**
 * The idle baseline the configuration asks for (`attribution.idleBaseline`): the configured powers,
 * or (the default) a baseline learned from idle periods whose prior is the configured value, or
 * where none is configured the lowest power measured on the GPU (`gpuDeviceIds`), or a value an
 * earlier run learned (`restored`). Throws `CONFIG_INVALID` when the learning window is shorter
 * than the idle time it needs.
 */
export function idleBaselineOf(
  attribution: Config['attribution'],
  configured: ReadonlyMap<string, MilliWatts>,
  onLearned?: LearnedIdleOptions['onLearned'],
  learning: {
    readonly gpuDeviceIds?: readonly string[];
    readonly restored?: ReadonlyMap<string, IdleBaselineUse>;
  } = {},
): IdleBaseline {
  if (attribution.idleBaseline === 'configured') return configuredIdleBaseline(configured);
  if (attribution.idleLearnMinMs > attribution.idleLearnWindowMs) {
    throw new ConfigError(
      'CONFIG_INVALID',
      `attribution.idleLearnMinMs (${attribution.idleLearnMinMs}) exceeds attribution.idleLearnWindowMs (${attribution.idleLearnWindowMs})`,
      [
        {
          path: 'attribution.idleLearnMinMs',
          expected: `at most idleLearnWindowMs (${attribution.idleLearnWindowMs})`,
          found: String(attribution.idleLearnMinMs),
        },
      ],
    );
  }
  return new LearnedIdleBaseline({
    configured,
    settleNanos: BigInt(attribution.idleSettleMs) * NANOS_PER_MILLI,
    windowNanos: BigInt(attribution.idleLearnWindowMs) * NANOS_PER_MILLI,
    minIdleNanos: BigInt(attribution.idleLearnMinMs) * NANOS_PER_MILLI,
    measuredPriorDeviceIds: new Set(learning.gpuDeviceIds ?? []),
    ...(learning.restored === undefined ? {} : { restored: learning.restored }),
    ...(onLearned === undefined ? {} : { onLearned }),
  });
}
