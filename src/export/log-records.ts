/**
 * Ledger items as OTLP log records. The body is the stored text itself (the DSSE envelope line,
 * the checkpoint note), a string passed through untouched, so that what a log backend holds can
 * be verified with `wattledger verify` exactly like the ledger.
 */
import type { HrTime } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { VERSION } from '../version.js';
import { hrTimeFromUnixNanos } from './edge.js';
import type { PendingItem } from './ledger-source.js';
import * as n from './names.js';

/** One scope object for every record: the SDK groups records by scope identity. */
const SCOPE = { name: n.SCOPE_LEDGER, version: VERSION };

/**
 * The log record of one ledger item. A batch is timed at its window's end (when it was sealed);
 * a checkpoint, which carries no time, at `now`. `wattledger.batch.sequence` of a checkpoint is
 * the last batch it covers.
 */
export function logRecordOf(item: PendingItem, resource: Resource, now: HrTime): ReadableLogRecord {
  const origin = item.origin === null ? {} : { [n.ATTR_LOG_ORIGIN]: item.origin };
  const common = {
    hrTimeObserved: now,
    severityNumber: SeverityNumber.INFO,
    severityText: 'INFO',
    resource,
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
  };
  if (item.kind === 'batch') {
    return {
      ...common,
      hrTime: item.endUnixNanos === null ? now : hrTimeFromUnixNanos(item.endUnixNanos),
      eventName: n.EVENT_BATCH_SIGNED,
      body: item.line,
      attributes: { [n.ATTR_BATCH_SEQUENCE]: Number(item.sequence), ...origin },
    };
  }
  return {
    ...common,
    hrTime: now,
    eventName: n.EVENT_CHECKPOINT,
    body: item.note,
    attributes: {
      [n.ATTR_BATCH_SEQUENCE]: item.treeSize - 1,
      [n.ATTR_CHECKPOINT_TREE_SIZE]: item.treeSize,
      ...origin,
    },
  };
}
