import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { IdleBaselineUse } from './types.js';

/**
 * The learned idle baselines persisted across restarts: `idle-baseline.json` in the ledger
 * directory, so that a restarted daemon starts from what it learned instead of from its prior.
 * Format: `{"version": 1, "devices": {"<device id>": {"powerMilliWatts", "sampleCount",
 * "idleNanos"}}}` (idleNanos as a decimal string). Unsigned: it only seeds the baseline, and every
 * batch records the baseline it used.
 */
export const IDLE_BASELINE_FILE = 'idle-baseline.json';

/** What {@link readIdleBaselines} found. */
export interface StoredIdleBaselines {
  readonly baselines: Map<string, IdleBaselineUse>;
  /** Why the file was not used, when it exists but cannot be read or is not this format. */
  readonly problem: string | null;
}

/** Reads the persisted baselines; a missing file is an empty map, an unreadable one a problem. */
export function readIdleBaselines(path: string): StoredIdleBaselines {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { baselines: new Map(), problem: code === 'ENOENT' ? null : `${path}: ${String(error)}` };
  }
  try {
    const parsed = JSON.parse(text) as { version?: unknown; devices?: unknown };
    if (parsed.version !== 1 || typeof parsed.devices !== 'object' || parsed.devices === null)
      throw new Error('not version 1 with a devices object');
    const baselines = new Map<string, IdleBaselineUse>();
    for (const [deviceId, raw] of Object.entries(parsed.devices as Record<string, unknown>)) {
      const use = raw as { powerMilliWatts?: unknown; sampleCount?: unknown; idleNanos?: unknown };
      const power = use.powerMilliWatts;
      const samples = use.sampleCount;
      if (!Number.isSafeInteger(power) || (power as number) < 0) throw new Error(`${deviceId}: bad power`);
      if (!Number.isSafeInteger(samples) || (samples as number) < 1)
        throw new Error(`${deviceId}: bad samples`);
      if (typeof use.idleNanos !== 'string' || !/^[1-9][0-9]*$/.test(use.idleNanos))
        throw new Error(`${deviceId}: bad idleNanos`);
      baselines.set(deviceId, {
        source: 'learned',
        powerMilliWatts: power as number,
        sampleCount: samples as number,
        idleNanos: BigInt(use.idleNanos),
      });
    }
    return { baselines, problem: null };
  } catch (error) {
    return { baselines: new Map(), problem: `${path}: ${(error as Error).message}` };
  }
}

/**
 * Writes the baselines atomically (a temporary file renamed over the old one) into an existing
 * directory (the ledger's; it is never created here). Throws on I/O errors.
 */
export function writeIdleBaselines(path: string, baselines: ReadonlyMap<string, IdleBaselineUse>): void {
  const devices: Record<string, unknown> = {};
  for (const [deviceId, use] of [...baselines].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (use.source !== 'learned' || use.sampleCount < 1 || use.idleNanos <= 0n) continue;
    devices[deviceId] = {
      powerMilliWatts: use.powerMilliWatts,
      sampleCount: use.sampleCount,
      idleNanos: use.idleNanos.toString(),
    };
  }
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, `${JSON.stringify({ version: 1, devices }, null, 2)}\n`, { mode: 0o644 });
  renameSync(temporary, path);
}
