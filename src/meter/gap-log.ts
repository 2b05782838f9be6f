import type { Logger } from '../log.js';
import type { MeterTick } from './types.js';

/**
 * A tick listener that logs each device's gaps once per state change (a gap starts, a gap ends),
 * so a GPU that stays lost does not fill the log with one line per 100 ms.
 */
export function createGapLogger(logger: Logger): (tick: MeterTick) => void {
  const inGap = new Map<string, string>();
  return (tick) => {
    for (const interval of tick.intervals) {
      const previous = inGap.get(interval.deviceId);
      if (interval.gap && interval.energyMicroJoules === null) {
        const key = `${interval.gap.reason}:${interval.gap.code ?? ''}`;
        if (previous === key) continue;
        inGap.set(interval.deviceId, key);
        logger.warn(
          {
            code: interval.gap.code ?? 'METER_GAP',
            deviceId: interval.deviceId,
            reason: interval.gap.reason,
          },
          `measurement gap on ${interval.deviceId}: ${interval.gap.message ?? interval.gap.reason}`,
        );
      } else if (previous !== undefined) {
        inGap.delete(interval.deviceId);
        logger.info(
          {
            code: 'METER_RECOVERED',
            deviceId: interval.deviceId,
            bridgedGapNanos: interval.bridgedGapNanos,
            source: interval.source,
          },
          `measurement resumed on ${interval.deviceId}`,
        );
      }
      if (interval.gap?.reason === 'counter-reset') {
        logger.warn(
          { code: 'METER_COUNTER_RESET', deviceId: interval.deviceId },
          interval.gap.message ?? 'counter reset',
        );
      }
    }
  };
}
