import { type Finding, finding } from './findings.js';
import type { OpenedBatch } from './open-batch.js';
import { small } from './small-integers.js';

/**
 * Checks that `current` follows `previous` in one agent's chain: contiguous sequence, the digest
 * of the previous payload, the same origin, every device's counter continuing from where the
 * previous batch left it, and every device's deferred-energy balance carried on. Returns findings; `sequenceOk` says whether the link itself holds, so
 * the caller knows whether the digest comparison was meaningful.
 */
export function checkLink(
  previous: OpenedBatch,
  current: OpenedBatch,
  location: string,
  seen: ReadonlySet<bigint>,
): Finding[] {
  const p = current.statement.predicate;
  const where = { sequence: p.sequence, location };
  const expectedSequence = previous.sequence + 1n;
  if (current.sequence !== expectedSequence) {
    if (seen.has(current.sequence)) {
      return [
        finding(
          'VERIFY_SEQUENCE_DUPLICATE',
          where,
          'sequence',
          'this sequence number was already seen (replayed or duplicated batch)',
          { expected: expectedSequence, found: current.sequence },
        ),
      ];
    }
    if (current.sequence < expectedSequence) {
      return [
        finding('VERIFY_SEQUENCE_REORDERED', where, 'sequence', 'batch is out of order', {
          expected: expectedSequence,
          found: current.sequence,
        }),
      ];
    }
    return [
      finding(
        'VERIFY_SEQUENCE_GAP',
        where,
        'sequence',
        `batches ${expectedSequence}..${current.sequence - 1n} are missing`,
        { expected: expectedSequence, found: current.sequence },
      ),
    ];
  }
  const out: Finding[] = [];
  if (p.previousSha256 !== previous.payloadSha256) {
    out.push(
      finding(
        'VERIFY_PREV_HASH_MISMATCH',
        where,
        'previous-digest',
        'previousSha256 is not the digest of the previous batch',
        { expected: previous.payloadSha256, found: p.previousSha256 ?? 'null' },
      ),
    );
  }
  if (p.origin !== previous.statement.predicate.origin) {
    out.push(
      finding('VERIFY_ORIGIN_MISMATCH', where, 'origin', 'the log origin changed', {
        expected: previous.statement.predicate.origin,
        found: p.origin,
      }),
    );
  }
  out.push(...checkCounters(previous, current, where));
  if (!deferredBalanceHolds(previous, current)) out.push(...checkDeferredBalance(previous, current, where));
  return out;
}

/**
 * Invariant B: each device's outstanding deferred energy is the previous batch's (0 for a device
 * the previous batch does not list, or for batch 0) + this batch's deferred − what it resolved.
 * The schema already makes the stated balance non-negative, so an expected negative balance (more
 * resolved than was ever deferred) is a mismatch here too. `previous` null: batch 0.
 */
function checkDeferredBalance(
  previous: OpenedBatch | null,
  current: OpenedBatch,
  where: { sequence: string; location: string },
): Finding[] {
  const before = new Map(
    (previous?.statement.predicate.devices ?? []).map((d) => [
      d.deviceId,
      BigInt(d.attribution.outstandingDeferredMicroJoules),
    ]),
  );
  const out: Finding[] = [];
  for (const device of current.statement.predicate.devices) {
    const a = device.attribution;
    const r = a.resolved;
    const resolved =
      BigInt(r.requestsMicroJoules) + BigInt(r.idleMicroJoules) + BigInt(r.unattributedMicroJoules);
    const expected = (before.get(device.deviceId) ?? 0n) + BigInt(a.deferredMicroJoules) - resolved;
    if (expected !== BigInt(a.outstandingDeferredMicroJoules)) {
      out.push(
        finding(
          'VERIFY_SUM_MISMATCH',
          where,
          'deferred-balance',
          `${device.deviceId}: outstanding deferred ≠ previous outstanding + deferred − resolved`,
          { expected, found: a.outstandingDeferredMicroJoules },
        ),
      );
    }
  }
  return out;
}

/**
 * True only when {@link checkDeferredBalance} certainly finds nothing, decided on Numbers where they
 * are exact (values of at most 15 digits: every term and result stays below 2^53); false when a
 * balance is off or a value is too long, and the BigInt check then decides.
 */
function deferredBalanceHolds(previous: OpenedBatch | null, current: OpenedBatch): boolean {
  const before = new Map<string, number>();
  for (const d of previous?.statement.predicate.devices ?? []) {
    const outstanding = small(d.attribution.outstandingDeferredMicroJoules);
    if (outstanding === undefined) return false;
    before.set(d.deviceId, outstanding);
  }
  for (const device of current.statement.predicate.devices) {
    const a = device.attribution;
    const r = a.resolved;
    const deferred = small(a.deferredMicroJoules);
    const outstanding = small(a.outstandingDeferredMicroJoules);
    const requests = small(r.requestsMicroJoules);
    const idle = small(r.idleMicroJoules);
    const unattributed = small(r.unattributedMicroJoules);
    if (
      deferred === undefined ||
      outstanding === undefined ||
      requests === undefined ||
      idle === undefined ||
      unattributed === undefined
    )
      return false;
    if ((before.get(device.deviceId) ?? 0) + deferred - (requests + idle + unattributed) !== outstanding)
      return false;
  }
  return true;
}

function checkCounters(
  previous: OpenedBatch,
  current: OpenedBatch,
  where: { sequence: string; location: string },
): Finding[] {
  const before = new Map(
    previous.statement.predicate.devices.map((d) => [d.deviceId, d.counterEndMicroJoules]),
  );
  const out: Finding[] = [];
  for (const device of current.statement.predicate.devices) {
    const end = before.get(device.deviceId);
    if (end === undefined || end === null || device.counterStartMicroJoules === null) continue;
    if (device.counterStartMicroJoules !== end) {
      out.push(
        finding(
          'VERIFY_COUNTER_DISCONTINUITY',
          where,
          'counter-continuity',
          `${device.deviceId}: counter does not continue from the previous batch`,
          { expected: end, found: device.counterStartMicroJoules },
        ),
      );
    }
  }
  return out;
}

/**
 * Checks the first batch seen. Batch 0 must name no previous batch, and its deferred balance starts
 * from 0. A later first batch (a ledger's tail) has a predecessor we cannot see: its stated
 * outstanding balances are accepted as the starting point.
 */
export function checkFirst(batch: OpenedBatch, location: string): Finding[] {
  if (batch.sequence !== 0n) return [];
  const p = batch.statement.predicate;
  const where = { sequence: p.sequence, location };
  const out = deferredBalanceHolds(null, batch) ? [] : checkDeferredBalance(null, batch, where);
  if (p.previousSha256 !== null) {
    out.unshift(
      finding('VERIFY_PREV_HASH_MISMATCH', where, 'genesis', 'batch 0 must not name a previous batch', {
        expected: 'null',
        found: p.previousSha256,
      }),
    );
  }
  return out;
}
