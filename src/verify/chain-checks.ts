import { type Finding, finding } from './findings.js';
import type { OpenedBatch } from './open-batch.js';

/**
 * Checks that `current` follows `previous` in one agent's chain: contiguous sequence, the digest
 * of the previous payload, the same origin, and every device's counter continuing from where the
 * previous batch left it. Returns findings; `sequenceOk` says whether the link itself holds, so
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
  return out;
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

/** Checks the first batch seen: sequence 0 must have no previous digest. */
export function checkFirst(batch: OpenedBatch, location: string): Finding[] {
  const p = batch.statement.predicate;
  if (batch.sequence === 0n && p.previousSha256 !== null) {
    return [
      finding(
        'VERIFY_PREV_HASH_MISMATCH',
        { sequence: p.sequence, location },
        'genesis',
        'batch 0 must not name a previous batch',
        { expected: 'null', found: p.previousSha256 },
      ),
    ];
  }
  return [];
}
