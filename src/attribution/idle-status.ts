import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { MilliWatts } from '../units.js';
import { IDLE_BASELINE_FILE, readIdleBaselines } from './idle-store.js';

/**
 * What the daemon would subtract as each GPU's idle power when it starts now (for `probe` and
 * `watch`): the value an earlier run learned and persisted, the configured value, or the measured
 * prior (the lowest power seen once it runs).
 */
export interface IdleBaselineStatus {
  readonly deviceId: string;
  /** `attribution.idleBaseline`. */
  readonly mode: 'learned' | 'configured';
  /** Where the value at start comes from. */
  readonly from: 'persisted' | 'configured' | 'lowest-measured';
  /** The value at start; `null` for `lowest-measured` (known once the GPU is read). */
  readonly powerMilliWatts: MilliWatts | null;
  /** Persisted values: the idle intervals behind them. */
  readonly sampleCount: number;
  readonly idleSeconds: number;
}

/** The status of every GPU's idle baseline, and the persisted file's path and problem if any. */
export function idleBaselineStatus(
  config: Config,
  gpuDeviceIds: readonly string[],
): { readonly path: string | null; readonly problem: string | null; readonly devices: IdleBaselineStatus[] } {
  const attribution = config.attribution;
  const mode = attribution.idleBaseline;
  const path =
    mode === 'learned' && config.ledger.enabled ? join(config.ledger.dir, IDLE_BASELINE_FILE) : null;
  const stored = path === null ? { baselines: new Map(), problem: null } : readIdleBaselines(path);
  const configured = attribution.idlePowerMilliWatts;
  const devices = gpuDeviceIds.map((deviceId): IdleBaselineStatus => {
    const persisted = stored.baselines.get(deviceId);
    if (persisted !== undefined)
      return {
        deviceId,
        mode,
        from: 'persisted',
        powerMilliWatts: persisted.powerMilliWatts,
        sampleCount: persisted.sampleCount,
        idleSeconds: Number(persisted.idleNanos / 1_000_000_000n),
      };
    const none = { sampleCount: 0, idleSeconds: 0 };
    if (configured !== null || mode === 'configured')
      return { deviceId, mode, from: 'configured', powerMilliWatts: configured ?? 0, ...none };
    return { deviceId, mode, from: 'lowest-measured', powerMilliWatts: null, ...none };
  });
  return { path, problem: stored.problem, devices };
}
