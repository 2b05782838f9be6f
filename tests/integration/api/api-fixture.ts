/**
 * A real ledger written by the batcher (records every few ticks, small segments so batches span
 * files, a checkpoint every 2 batches) served by the real API server on 127.0.0.1:0.
 */

import type { ApiKeys } from '../../../src/api/keys.js';
import { LedgerIndex } from '../../../src/api/ledger-index.js';
import { type ApiServer, createApiServer } from '../../../src/api/server.js';
import { formatVerifierKey } from '../../../src/attest/key-id.js';
import { TEST_ORIGIN, testSigner, writeLedger } from '../../helpers/ledger-fixture.js';

/** Three records at every fourth tick, so some batches hold several and some none. */
export function records(tick: number) {
  if (tick % 4 !== 2) return [];
  return [0, 1, 2].map((j) => ({
    requestId: `req-${tick}-${j}`,
    model: 'm',
    inputTokens: tick,
    outputTokens: j,
  }));
}

/** Writes the standard test ledger into `dir`. */
export async function writeApiLedger(dir: string, ticks = 80): Promise<void> {
  await writeLedger(dir, { ticks, checkpointEvery: 2, records, maxSegmentBytes: 4096 });
}

/** The test key as the API publishes it; `seedByte` 2 plays a rotated-out key. */
export function apiKeys(): ApiKeys {
  const key = (seedByte: number) => {
    const { signer } = testSigner(seedByte);
    return {
      keyId: signer.keyId,
      publicKey: signer.publicKey,
      verifierKey: formatVerifierKey(TEST_ORIGIN, signer.publicKey),
    };
  };
  return {
    current: { ...key(1), validFrom: '2025-01-01T00:00:00Z' },
    announced: [{ ...key(2), validFrom: '2024-01-01T00:00:00Z', validUntil: '2025-01-01T00:00:00Z' }],
  };
}

/** A built index and a listening server over `dir`. */
export async function startApi(
  dir: string,
  options: { maxPageSize?: number; ready?: boolean; build?: boolean } = {},
): Promise<{
  server: ApiServer;
  index: LedgerIndex;
  get: (path: string, init?: RequestInit) => Promise<Response>;
}> {
  const index = new LedgerIndex(dir);
  if (options.build !== false) await index.build();
  const server = await createApiServer({
    index,
    ledgerDir: dir,
    keys: apiKeys(),
    health: () => ({ ready: options.ready ?? true, detail: { meter: 'running', ticks: 80n } }),
    listen: { host: '127.0.0.1', port: 0 },
    ...(options.maxPageSize === undefined ? {} : { maxPageSize: options.maxPageSize }),
  });
  return { server, index, get: (path, init) => fetch(`${server.url}${path}`, init) };
}

/** The `{error}` body and status of a failed request. */
export async function errorOf(
  response: Response,
): Promise<{ status: number; code: string; message: string }> {
  const body = (await response.json()) as { error: { code: string; message: string } };
  return { status: response.status, ...body.error };
}
