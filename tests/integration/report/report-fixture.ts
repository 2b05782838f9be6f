import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeLedger } from '../../helpers/ledger-fixture.js';

/**
 * A ledger with 40 request records of two models, written by the real batcher (10 batches of 1 s,
 * two records per batch-second), plus one unsealed run of records after the last batch (as a
 * crash between writing records and sealing leaves). Record i ended at 16:00:i Z on 2025-11-24.
 */

export const START = '2025-11-24T16:00:00.000Z';
export const RECORD_COUNT = 40;

export function fixtureRecord(i: number): { readonly requestId: string; readonly [field: string]: unknown } {
  const large = i % 3 === 0;
  const active = large ? 5_000_000_000 + i * 7919 : 400_000_000 + i * 1013;
  return {
    recordVersion: 1,
    requestId: `req-${i}`,
    engineId: 'vllm',
    gpuDeviceIds: [],
    model: large ? 'large-70b' : 'small-1b',
    operation: 'chat',
    source: 'proxy',
    traceId: null,
    startedAt: START,
    endedAt: new Date(Date.parse(START) + i * 1000 + 250).toISOString(),
    durationNanos: '1000000',
    timeToFirstTokenNanos: null,
    inputTokens: i === 7 ? null : 500 + i * 11,
    cachedInputTokens: i === 7 ? null : i % 5 === 0 ? 100 : 0,
    outputTokens: i === 7 ? null : 100 + ((i * 37) % 200),
    tokensSource: i === 7 ? 'none' : 'usage',
    outcome: i % 10 === 9 ? 'error' : 'ok',
    httpStatus: 200,
    activeEnergyMicroJoules: String(active),
    hostEnergyMicroJoules: '0',
    devices: [],
    attributionMethod: 'tokens-v1(a=1,b=4)',
    estimated: i % 4 === 0,
    activeImpact: {
      boundary: 'active',
      itEnergyMicroJoules: String(active),
      pueMilli: 1000,
      facilityEnergyMicroJoules: String(active),
      co2eLocationMicrograms: String(Math.floor(active / 9000)),
      co2eMarketMicrograms: null,
      waterOnSiteMicroliters: '0',
      waterOffSiteMicroliters: null,
      waterMicroliters: null,
    },
    comprehensive:
      i < 30
        ? null
        : {
            boundary: 'comprehensive',
            itEnergyMicroJoules: String(active + 1000),
            pueMilli: 1200,
            facilityEnergyMicroJoules: String(Math.floor(((active + 1000) * 12) / 10)),
            co2eLocationMicrograms: '5',
            co2eMarketMicrograms: null,
            waterOnSiteMicroliters: '1',
            waterOffSiteMicroliters: '2',
            waterMicroliters: '3',
            activeEnergyMicroJoules: String(active),
            idleShareMicroJoules: '1000',
            hostEnergyMicroJoules: '0',
          },
  };
}

export const FIXTURE_RECORDS = Array.from({ length: RECORD_COUNT }, (_, i) => fixtureRecord(i));

/** Writes the ledger: record i is added before meter tick 2i (ticks are 100 ms; batches 1 s). */
export async function writeReportLedger(dir: string): Promise<void> {
  await writeLedger(dir, {
    ticks: 90,
    batchIntervalMs: 1000,
    checkpointEvery: 3,
    records: (tick) => (tick % 2 === 0 && tick / 2 < RECORD_COUNT ? [FIXTURE_RECORDS[tick / 2]!] : []),
  });
  // An unsealed run: records written for a batch that was never sealed.
  const orphan = { ...fixtureRecord(5), requestId: 'req-orphan' };
  await appendFile(
    join(dir, 'records', 'ledger-000001.jsonl'),
    `${JSON.stringify({ index: 0, record: orphan, sequence: '999' })}\n`,
  );
}
