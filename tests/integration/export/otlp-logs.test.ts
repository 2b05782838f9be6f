import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { bytesFromBase64, stringFromUtf8 } from '../../../src/attest/bytes.js';
import { configSchema } from '../../../src/config/schema.js';
import { type LogExportEvent, OtlpLedgerLogs } from '../../../src/export/otlp-logs.js';
import { buildOtlpResource } from '../../../src/export/resource.js';
import {
  checkpointNotes,
  ledgerLines,
  TEST_ORIGIN,
  verifyLines,
  writeLedger,
} from '../../helpers/ledger-fixture.js';
import type { ManualClock } from '../../helpers/manual-clock.js';
import { OtlpReceiver } from '../../helpers/otlp-receiver.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';
import { type LogRecordView, logRecords } from './otlp-views.js';

const OTEL_VARIABLES = [
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_EXPORTER_OTLP_LOGS_PROTOCOL',
  'OTEL_EXPORTER_OTLP_TIMEOUT',
  'OTEL_EXPORTER_OTLP_LOGS_TIMEOUT',
];
const MAX_RECORDS = 4;

let receiver: OtlpReceiver;
let dir: string;
let cleanup: () => Promise<void>;
let clock: ManualClock;
const exporters: OtlpLedgerLogs[] = [];

/** Appends `ticks` × 100 ms of metering to the ledger: a batch every 200 ms, a checkpoint every 3. */
async function grow(ticks: number, maxSegmentBytes?: number): Promise<void> {
  const segments = maxSegmentBytes === undefined ? {} : { maxSegmentBytes };
  clock = (await writeLedger(dir, { ticks, batchIntervalMs: 200, checkpointEvery: 3, clock, ...segments }))
    .clock;
}

async function openLogs(protocol: 'http/protobuf' | 'http/json', endpoint = receiver.endpoint) {
  const events: LogExportEvent[] = [];
  const logs = await OtlpLedgerLogs.open({
    ledgerDir: dir,
    resource: buildOtlpResource({ serviceVersion: '9.9.9', host: { hostId: 'host-1', hostname: 'gpu-7' } }),
    settings: {
      ...configSchema.parse({}).otlp,
      endpoint,
      protocol,
      logsPollIntervalMs: 60_000,
      logsMaxBatchRecords: MAX_RECORDS,
      retryInitialDelayMs: 50,
      retryMaxDelayMs: 200,
    },
    onEvent: (event) => events.push(event),
  });
  exporters.push(logs);
  return { logs, events };
}

/** What the collector should hold: every line, each checkpoint right after the last batch it covers. */
async function expectedBodies(): Promise<string[]> {
  const lines = await ledgerLines(dir);
  const notes = await checkpointNotes(dir);
  const sizeOf = (note: string) => Number(note.split('\n')[1]);
  return lines.flatMap((line, sequence) => [line, ...notes.filter((note) => sizeOf(note) === sequence + 1)]);
}

const bodies = (records: readonly LogRecordView[]) => records.map((r) => r.body);
const accepted = () => logRecords(receiver.accepted('logs'));

beforeEach(async () => {
  for (const name of OTEL_VARIABLES) vi.stubEnv(name, '');
  receiver = await OtlpReceiver.start();
  ({ dir, cleanup } = await makeTmpDir());
  clock = (await writeLedger(dir, { ticks: 20, batchIntervalMs: 200, checkpointEvery: 3 })).clock;
});
afterEach(async () => {
  for (const logs of exporters.splice(0)) await logs.stop();
  vi.unstubAllEnvs();
  await receiver.close();
  await cleanup();
});

describe.each(['http/protobuf', 'http/json'] as const)('OTLP logs over %s', (protocol) => {
  it('sends every batch and checkpoint exactly as stored, in log order, in bounded requests', async () => {
    const { logs } = await openLogs(protocol);
    expect(await logs.flush()).toBe(true);

    const records = accepted();
    const expected = await expectedBodies();
    expect(expected.length).toBeGreaterThan(12);
    expect(bodies(records)).toEqual(expected);
    for (const request of receiver.requests) {
      expect(request.encoding).toBe(protocol === 'http/json' ? 'json' : 'protobuf');
      expect(logRecords([request.body]).length).toBeLessThanOrEqual(MAX_RECORDS);
    }
    // What the collector holds verifies like the ledger itself.
    const batches = records.filter((r) => r.eventName === 'wattledger.batch.signed');
    const checkpoints = records.filter((r) => r.eventName === 'wattledger.checkpoint');
    const report = verifyLines(bodies(batches) as string[], bodies(checkpoints) as string[]);
    expect(report.ok).toBe(true);

    for (const [sequence, record] of batches.entries()) {
      expect(record.attributes).toEqual({
        'wattledger.batch.sequence': sequence,
        'wattledger.log.origin': TEST_ORIGIN,
      });
      expect(record.severityNumber).toBe(9);
      expect(record.timeUnixNano).toBe(windowEnd(record.body as string));
    }
    for (const record of checkpoints) {
      const size = Number((record.body as string).split('\n')[1]);
      expect(record.attributes).toEqual({
        'wattledger.batch.sequence': size - 1,
        'wattledger.checkpoint.tree_size': size,
        'wattledger.log.origin': TEST_ORIGIN,
      });
    }
    expect(records[0]?.resource).toMatchObject({ 'service.name': 'wattledger', 'host.id': 'host-1' });

    const cursor = JSON.parse(await readFile(join(dir, 'export', 'otlp-cursor.json'), 'utf8'));
    expect(cursor).toMatchObject({
      version: 1,
      lastSequence: String(batches.length - 1),
      checkpointTreeSize: Number(String(checkpoints.at(-1)?.body).split('\n')[1]),
    });
  });
});

describe('OTLP logs when the collector is away', () => {
  it('loses and duplicates nothing across a 503 / Retry-After and a connection-refused outage', async () => {
    // The SDK retries a request within this timeout, honouring Retry-After; then our backoff takes over.
    vi.stubEnv('OTEL_EXPORTER_OTLP_TIMEOUT', '2500');
    const { logs, events } = await openLogs('http/protobuf');
    receiver.acceptThenFail(2, 503, 1);
    logs.start();
    await receiver.waitFor(() => receiver.requests.filter((r) => r.status === 503).length >= 2);
    const acknowledged = logs.position;
    expect(acknowledged.lastSequence).not.toBeNull();
    expect(bodies(accepted())).toHaveLength(2 * MAX_RECORDS);

    // Retry-After: 1 was honoured between the refused attempts of one request.
    const refused = receiver.requests.filter((r) => r.status === 503);
    expect((refused[1]?.atMs ?? 0) - (refused[0]?.atMs ?? 0)).toBeGreaterThanOrEqual(900);

    await receiver.goAway();
    await grow(10); // the ledger keeps growing while nobody listens
    logs.notify();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await receiver.comeBack();
    receiver.recover();
    const expected = await expectedBodies();
    await receiver.waitFor(() => accepted().length >= expected.length);
    await logs.stop();

    expect(bodies(accepted())).toEqual(expected);
    // The loop backed off and came back after the SDK gave up on a refused connection.
    const causes = events.flatMap((e) =>
      e.kind === 'export-failed' && e.retryInMs !== null ? [e.error] : [],
    );
    expect(causes.map((error) => ((error as Error).cause as NodeJS.ErrnoException)?.code)).toContain(
      'ECONNREFUSED',
    );
    expect(logs.position.lastSequence).toBe(BigInt((await ledgerLines(dir)).length - 1));
  });

  it('resumes from the persisted cursor after a restart, honouring OTEL_EXPORTER_OTLP_LOGS_ENDPOINT', async () => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_LOGS_ENDPOINT', `${receiver.endpoint}/v1/logs`);
    const first = (await openLogs('http/json', 'http://127.0.0.1:9')).logs;
    expect(await first.flush()).toBe(true);
    await first.stop();
    const sentBefore = accepted().length;

    // Small segments from here on, so that the cursor's segment hint is exercised past segment 1.
    await grow(12, 4096);
    const { logs: second } = await openLogs('http/json', 'http://127.0.0.1:9');
    expect(second.position).toEqual(first.position);
    expect(await second.flush()).toBe(true);
    await second.stop();
    expect(accepted().length).toBeGreaterThan(sentBefore);
    expect(second.position.segmentFirstSequence).toBeGreaterThan(0n);

    await grow(8, 4096);
    const { logs: third } = await openLogs('http/json', 'http://127.0.0.1:9');
    expect(await third.flush()).toBe(true);
    expect(bodies(accepted())).toEqual(await expectedBodies());
    const segments = (await readdir(dir)).filter((name) => name.startsWith('ledger-'));
    expect(segments.length).toBeGreaterThan(3);
  });

  it('starts over, rather than skipping anything, when the cursor file is damaged', async () => {
    const { logs } = await openLogs('http/json');
    expect(await logs.flush()).toBe(true);
    await writeFile(join(dir, 'export', 'otlp-cursor.json'), '{"version":1,"lastSeq');
    const { logs: again, events } = await openLogs('http/json');
    expect(events.map((e) => e.kind)).toEqual(['cursor-reset']);
    expect(await again.flush()).toBe(true);
    // At least once: everything twice, never anything missing.
    const expected = await expectedBodies();
    expect(bodies(accepted())).toEqual([...expected, ...expected]);
  });
});

/** The batch's window end, from its signed payload, as OTLP's decimal nanoseconds. */
function windowEnd(line: string): string {
  const payload = JSON.parse(line).payload as string;
  return JSON.parse(stringFromUtf8(bytesFromBase64(payload))).predicate.window.endUnixNanos;
}
