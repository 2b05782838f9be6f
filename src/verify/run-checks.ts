import type { BatchPredicate } from '../attest/batch-format.js';
import { type Finding, finding } from './findings.js';
import type { OpenedBatch } from './open-batch.js';

/**
 * Time and identity across batches (FORMAT.md §8 step 8): windows follow each other without
 * overlapping or running backwards, downtime is only declared where a run starts and never exceeds
 * the wall time between the two batches, a device's wrap range never changes and its power limit
 * does not change within a run, and a counter jump blamed on downtime is in a run's first batch.
 * Nothing here needs anything outside the ledger.
 */

type Where = { readonly sequence: string; readonly location: string };

/** True when `p` opens an agent run: it carries an `agent-start` event. */
function startsRun(p: BatchPredicate): boolean {
  return p.events.some((event) => event.kind === 'agent-start');
}

/**
 * `current` against the batch before it (`previous`, sequence − 1). Same run (same `agent.runId`):
 * the window starts exactly where the previous one ended on both clocks, and declares no downtime.
 * A new run: it starts with an `agent-start` event, its wall start is not before the previous end,
 * and its downtime is at most the wall time between them.
 */
export function checkWindowLink(previous: OpenedBatch, current: OpenedBatch, where: Where): Finding[] {
  const a = previous.statement.predicate;
  const b = current.statement.predicate;
  const out: Finding[] = [];
  const overlap = (clock: string, expected: string, found: string, message: string): void => {
    out.push(
      finding('VERIFY_IMPLAUSIBLE', where, 'window-overlap', `${message} (${clock} clock)`, {
        expected,
        found,
      }),
    );
  };
  if (a.agent.runId === b.agent.runId) {
    if (b.window.startMonoNanos !== a.window.endMonoNanos)
      overlap(
        'monotonic',
        a.window.endMonoNanos,
        b.window.startMonoNanos,
        'within a run, the window does not start where the previous one ended',
      );
    if (b.window.startUnixNanos !== a.window.endUnixNanos)
      overlap(
        'wall',
        a.window.endUnixNanos,
        b.window.startUnixNanos,
        'within a run, the window does not start where the previous one ended',
      );
    if (b.window.downtimeNanos !== '0') {
      out.push(
        finding('VERIFY_IMPLAUSIBLE', where, 'downtime', 'agent downtime declared inside one run', {
          expected: '0',
          found: b.window.downtimeNanos,
        }),
      );
    }
    return out;
  }
  if (!startsRun(b)) {
    out.push(
      finding(
        'VERIFY_MALFORMED',
        where,
        'run-start',
        'a new agent run (another runId) without an agent-start event',
        {
          expected: a.agent.runId,
          found: b.agent.runId,
        },
      ),
    );
  }
  const gap = BigInt(b.window.startUnixNanos) - BigInt(a.window.endUnixNanos);
  if (gap < 0n) {
    overlap(
      'wall',
      `>= ${a.window.endUnixNanos}`,
      b.window.startUnixNanos,
      'the window starts before the previous batch ended',
    );
  }
  const downtime = BigInt(b.window.downtimeNanos);
  if (downtime > (gap < 0n ? 0n : gap)) {
    out.push(
      finding(
        'VERIFY_IMPLAUSIBLE',
        where,
        'downtime',
        'more agent downtime than the wall time since the previous batch',
        {
          expected: `<= ${gap < 0n ? 0n : gap}`,
          found: b.window.downtimeNanos,
        },
      ),
    );
  }
  return out;
}

/** What the verifier remembers of each device across the ledger. */
interface DeviceFacts {
  readonly wrapRangeMicroJoules: string | null;
  readonly firstSequence: string;
  powerLimitMilliWatts: number | null;
  runId: string;
}

/**
 * Per-device facts over the whole ledger (not only the previous batch, so a device that leaves and
 * comes back is held to what it said first): `wrap-range` (a device's wrap range is fixed),
 * `power-limit` (a device's power limit does not change within a run) and `discontinuity` (an
 * `agent-downtime-reset` only in the first batch of a run).
 */
export class DeviceHistory {
  private readonly devices = new Map<string, DeviceFacts>();

  check(batch: OpenedBatch, where: Where): Finding[] {
    const p = batch.statement.predicate;
    const runId = p.agent.runId;
    const opensRun = startsRun(p);
    const out: Finding[] = [];
    for (const d of p.devices) {
      const known = this.devices.get(d.deviceId);
      if (known === undefined) {
        this.devices.set(d.deviceId, {
          wrapRangeMicroJoules: d.wrapRangeMicroJoules,
          firstSequence: p.sequence,
          powerLimitMilliWatts: d.powerLimitMilliWatts,
          runId,
        });
      } else {
        if (known.wrapRangeMicroJoules !== d.wrapRangeMicroJoules) {
          out.push(
            finding(
              'VERIFY_IMPLAUSIBLE',
              where,
              'wrap-range',
              `${d.deviceId}: the counter's wrap range differs from the one declared in batch ${known.firstSequence}`,
              { expected: String(known.wrapRangeMicroJoules), found: String(d.wrapRangeMicroJoules) },
            ),
          );
        }
        if (known.runId === runId && known.powerLimitMilliWatts !== d.powerLimitMilliWatts) {
          out.push(
            finding(
              'VERIFY_IMPLAUSIBLE',
              where,
              'power-limit',
              `${d.deviceId}: the power limit changed within one agent run`,
              {
                expected: String(known.powerLimitMilliWatts),
                found: String(d.powerLimitMilliWatts),
              },
            ),
          );
        }
        known.powerLimitMilliWatts = d.powerLimitMilliWatts;
        known.runId = runId;
      }
      if (!opensRun && d.discontinuities.some((j) => j.reason === 'agent-downtime-reset')) {
        out.push(
          finding(
            'VERIFY_COUNTER_DISCONTINUITY',
            where,
            'discontinuity',
            `${d.deviceId}: a counter jump blamed on agent downtime in a batch that does not start a run`,
          ),
        );
      }
    }
    return out;
  }
}

/**
 * `agent.keyId` names the key whose signature comes first: a key that signed the batch, or (during
 * a rotation) the key the batch announces, whose signature `announcedSigned` confirmed.
 */
export function checkAgentKeyId(
  batch: OpenedBatch,
  announcedSigned: ReadonlySet<string>,
  where: Where,
): Finding[] {
  const keyId = batch.statement.predicate.agent.keyId;
  if (batch.keyIds.includes(keyId) || announcedSigned.has(keyId)) return [];
  return [
    finding(
      'VERIFY_SIGNATURE_INVALID',
      where,
      'agent-key-id',
      'agent.keyId is not the key that signed the batch',
      {
        expected: batch.keyIds.join(' or '),
        found: keyId,
      },
    ),
  ];
}
