import type { BatchPredicate } from '../../src/attest/batch-format.js';
import { bytesFromBase64, stringFromUtf8 } from '../../src/attest/bytes.js';

/**
 * The agent's side of the device-window contract (docs/FORMAT.md, devices and windows), checked on
 * every batch of a ledger: each device covers at most its batch's span, `(end − start) mono +
 * downtime`; a device with a power limit claims at most `limit × span × 12/10`; a device is
 * unmeasured exactly when it covers nothing, and then claims no energy. Returns one line per
 * violation (empty when the ledger keeps the contract).
 */
export function windowContractViolations(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (const predicate of predicatesOf(lines)) {
    const w = predicate.window;
    const span = BigInt(w.endMonoNanos) - BigInt(w.startMonoNanos) + BigInt(w.downtimeNanos);
    for (const d of predicate.devices) {
      const at = `batch ${predicate.sequence} ${d.deviceId}`;
      const covered = BigInt(d.coveredNanos);
      const energy = BigInt(d.energyMicroJoules);
      if (covered > span) out.push(`${at}: covers ${covered} ns of a ${span} ns span`);
      if (
        d.powerLimitMilliWatts !== null &&
        energy * 1_000_000n * 10n > BigInt(d.powerLimitMilliWatts) * span * 12n
      )
        out.push(`${at}: ${energy} µJ over ${span} ns is above ${d.powerLimitMilliWatts} mW × 12/10`);
      if (covered === 0n && energy !== 0n) out.push(`${at}: ${energy} µJ with nothing covered`);
      if ((covered === 0n) !== (d.unmeasuredReason !== null))
        out.push(`${at}: unmeasuredReason ${d.unmeasuredReason} with ${covered} ns covered`);
    }
  }
  return out;
}

/** The batch predicates of ledger lines (envelopes), in order. */
export function predicatesOf(lines: readonly string[]): BatchPredicate[] {
  return lines.map((line) => {
    const envelope = JSON.parse(line) as { payload: string };
    return (JSON.parse(stringFromUtf8(bytesFromBase64(envelope.payload))) as { predicate: BatchPredicate })
      .predicate;
  });
}
