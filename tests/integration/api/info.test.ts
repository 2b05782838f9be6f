/**
 * Health, keys, receipts and records: the keys document is what the verifier reads and holds
 * nothing secret, receipts served verify offline with the published key, records are served as
 * stored, and every failure has its stable code.
 */
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerIndex } from '../../../src/api/ledger-index.js';
import { type ApiServer, createApiServer } from '../../../src/api/server.js';
import { base64FromBytes } from '../../../src/attest/bytes.js';
import { pemFromEd25519PublicKey } from '../../../src/attest/key-id.js';
import { parseTrustedKeys } from '../../../src/keys/trusted-keys.js';
import { LATEST_CHECKPOINT_FILE } from '../../../src/ledger/checkpoint-writer.js';
import { verifyReceipt } from '../../../src/verify/receipt.js';
import { checkpointNotes } from '../../helpers/ledger-fixture.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';
import { apiKeys, errorOf, startApi, writeApiLedger } from './api-fixture.js';

let root: string;
let cleanup: () => Promise<void>;
let dir: string;
let server: ApiServer;
let get: (path: string, init?: RequestInit) => Promise<Response>;

beforeAll(async () => {
  ({ dir: root, cleanup } = await makeTmpDir('wattledger-api-info-'));
  dir = join(root, 'ledger');
  await writeApiLedger(dir);
  ({ server, get } = await startApi(dir));
});
afterAll(async () => {
  await server.close();
  await cleanup();
});

describe('health', () => {
  it('is alive, and ready once the index is built and the daemon says so', async () => {
    expect(await (await get('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      ready: true,
      index: { state: 'ready' },
      detail: { ticks: '80' },
    });
    const meterDown = await startApi(dir, { ready: false });
    const unbuilt = await startApi(dir, { build: false });
    try {
      expect((await meterDown.get('/readyz')).status).toBe(503);
      const response = await unbuilt.get('/readyz');
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ ready: false, index: { state: 'new' } });
      const batch = await errorOf(await unbuilt.get('/v1/batches/0'));
      expect(batch).toMatchObject({ status: 503, code: 'API_NOT_READY' });
    } finally {
      await meterDown.server.close();
      await unbuilt.server.close();
    }
  });
});

describe('GET /v1/keys', () => {
  it('serves a trusted-keys document the verifier accepts, with the validity windows', async () => {
    const text = await (await get('/v1/keys')).text();
    const keys = parseTrustedKeys(text);
    const { current, announced } = apiKeys();
    expect(keys.map((k) => k.keyId)).toEqual([current.keyId, announced![0]!.keyId]);
    expect(keys[0]!.verifierKey?.name).toBe('wattledger/test-host');
    expect(keys[1]!.validUntilUnixNanos).toBe(1_735_689_600_000_000_000n);
  });

  it('serves every form of every key with ?format=full, and nothing private', async () => {
    const response = await get('/v1/keys?format=full');
    const text = await response.text();
    expect(text).not.toMatch(/PRIVATE|secret|seed/i);
    const { current } = apiKeys();
    expect(JSON.parse(text).keys[0]).toEqual({
      keyId: current.keyId,
      role: 'current',
      publicKeyBase64: base64FromBytes(current.publicKey),
      publicKeyPem: pemFromEd25519PublicKey(current.publicKey),
      verifierKey: current.verifierKey,
      validFrom: '2025-01-01T00:00:00Z',
    });
    expect(await errorOf(await get('/v1/keys?format=pem'))).toMatchObject({
      status: 400,
      code: 'API_BAD_PARAMETER',
    });
  });
});

describe('GET /v1/receipts/{requestId}', () => {
  const KEYS = [{ keyId: apiKeys().current.keyId, publicKey: apiKeys().current.publicKey }];

  it('serves receipts that verify offline with only the published key', async () => {
    for (const id of ['req-2-0', 'req-38-1', 'req-78-2']) {
      const response = await get(`/v1/receipts/${id}`);
      expect(response.status, id).toBe(200);
      const report = verifyReceipt(await response.json(), KEYS);
      expect(report.findings).toEqual([]);
      expect(report).toMatchObject({ ok: true, requestId: id });
    }
  });

  it('answers 404 for an unknown id, 400 for a malformed one, 409 before the checkpoint', async () => {
    expect(await errorOf(await get('/v1/receipts/no-such'))).toMatchObject({
      status: 404,
      code: 'API_RECORD_NOT_FOUND',
    });
    for (const bad of ['-x', 'a%20b', 'a'.repeat(257), 'x%2F..%2Fkey', 'x%00'])
      expect(await errorOf(await get(`/v1/receipts/${bad}`)), bad).toMatchObject({
        status: 400,
        code: 'API_BAD_PARAMETER',
      });
    const stale = join(root, 'stale');
    await cp(dir, stale, { recursive: true });
    await writeFile(join(stale, LATEST_CHECKPOINT_FILE), (await checkpointNotes(stale))[0]!);
    const api = await startApi(stale);
    try {
      const response = await api.get('/v1/receipts/req-74-0');
      expect(response.headers.get('retry-after')).toBe('10');
      expect(await errorOf(response)).toMatchObject({ status: 409, code: 'API_NOT_YET_CHECKPOINTED' });
    } finally {
      await api.server.close();
    }
  });

  it('refuses more concurrent scans than allowed with 503 API_BUSY', async () => {
    const index = new LedgerIndex(dir);
    await index.build();
    const busy = await createApiServer({
      index,
      ledgerDir: dir,
      keys: apiKeys(),
      health: () => ({ ready: true, detail: {} }),
      listen: { host: '127.0.0.1', port: 0 },
      maxConcurrentScans: 0,
    });
    try {
      const response = await fetch(`${busy.url}/v1/records/req-2-0`);
      expect(response.headers.get('retry-after')).toBe('1');
      expect(await errorOf(response)).toMatchObject({ status: 503, code: 'API_BUSY' });
    } finally {
      await busy.close();
    }
  });
});

describe('GET /v1/records/{requestId}', () => {
  it('serves the stored record-log line byte for byte', async () => {
    const recordsDir = join(dir, 'records');
    const stored = (
      await Promise.all(
        (
          await readdir(recordsDir)
        )
          .filter((n) => n.endsWith('.jsonl'))
          .map((n) => readFile(join(recordsDir, n), 'utf8')),
      )
    )
      .join('')
      .split('\n');
    const response = await get('/v1/records/req-38-1');
    const text = await response.text();
    expect(stored).toContain(text);
    expect(JSON.parse(text)).toMatchObject({
      record: { requestId: 'req-38-1', inputTokens: 38, outputTokens: 1 },
    });
    expect(await errorOf(await get('/v1/records/req-39-0'))).toMatchObject({
      status: 404,
      code: 'API_RECORD_NOT_FOUND',
    });
  });
});

describe('unknown routes and methods', () => {
  it('answer 404 API_NOT_FOUND in the JSON error shape', async () => {
    for (const [path, method] of [
      ['/v2/batches', 'GET'],
      ['/v1/batches', 'POST'],
      ['/v1/batches/1/x', 'GET'],
      ['/', 'GET'],
    ] as const) {
      const response = await get(path, { method });
      expect(await errorOf(response), `${method} ${path}`).toMatchObject({
        status: 404,
        code: 'API_NOT_FOUND',
      });
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });
});
