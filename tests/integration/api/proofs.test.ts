/**
 * Checkpoints and RFC 9162 proofs as a third party uses them: fetch signed checkpoints, then
 * check with attest/merkle.ts that every later one extends every earlier one and that each batch
 * fetched is included under a checkpoint root. Bad sizes get stable codes.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServer } from '../../../src/api/server.js';
import { bytesFromHex, hexFromBytes } from '../../../src/attest/bytes.js';
import { type Checkpoint, openCheckpoint } from '../../../src/attest/checkpoint.js';
import { parseVerifierKey } from '../../../src/attest/key-id.js';
import { leafHash, verifyConsistency, verifyInclusion } from '../../../src/attest/merkle.js';
import { LATEST_CHECKPOINT_FILE } from '../../../src/ledger/checkpoint-writer.js';
import { checkpointNotes, ledgerLines, TEST_ORIGIN } from '../../helpers/ledger-fixture.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';
import { apiKeys, errorOf, startApi, writeApiLedger } from './api-fixture.js';

let cleanup: () => Promise<void>;
let dir: string;
let lines: string[];
let server: ApiServer;
let get: (path: string) => Promise<Response>;
const trusted = [parseVerifierKey(apiKeys().current.verifierKey)];

beforeAll(async () => {
  let root: string;
  ({ dir: root, cleanup } = await makeTmpDir('wattledger-api-proofs-'));
  dir = join(root, 'ledger');
  await writeApiLedger(dir, 100);
  lines = await ledgerLines(dir);
  ({ server, get } = await startApi(dir));
});
afterAll(async () => {
  await server.close();
  await cleanup();
});

/** Fetches a checkpoint note and opens it with the published key only. */
async function fetchCheckpoint(path: string): Promise<Checkpoint> {
  const response = await get(path);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
  const bytes = new Uint8Array(await response.arrayBuffer());
  return openCheckpoint(bytes, trusted, { expectedOrigin: TEST_ORIGIN }).checkpoint;
}

describe('checkpoints', () => {
  it('serves the latest checkpoint and each published one byte for byte', async () => {
    const latest = await get('/v1/checkpoint');
    expect(await latest.text()).toBe(await readFile(join(dir, LATEST_CHECKPOINT_FILE), 'utf8'));
    expect(latest.headers.get('cache-control')).toBe('no-cache');
    const notes = await checkpointNotes(dir);
    expect(notes.length).toBeGreaterThanOrEqual(4);
    for (const note of notes) {
      const size = Number(note.split('\n')[1]);
      const response = await get(`/v1/checkpoints/${size}`);
      expect(await response.text()).toBe(note);
      expect(response.headers.get('cache-control')).toContain('immutable');
    }
    expect(await errorOf(await get('/v1/checkpoints/1'))).toMatchObject({
      status: 404,
      code: 'API_CHECKPOINT_NOT_FOUND',
    });
    expect(await errorOf(await get('/v1/checkpoints/x'))).toMatchObject({
      status: 400,
      code: 'API_BAD_PARAMETER',
    });
  });
});

describe('consistency proofs', () => {
  it('prove that every checkpoint extends every earlier one', async () => {
    const notes = await checkpointNotes(dir);
    const checkpoints: Checkpoint[] = [];
    for (const note of notes)
      checkpoints.push(await fetchCheckpoint(`/v1/checkpoints/${note.split('\n')[1]}`));
    for (const [i, older] of checkpoints.entries())
      for (const newer of checkpoints.slice(i)) {
        const response = await get(`/v1/proofs/consistency?from=${older.treeSize}&to=${newer.treeSize}`);
        const body = (await response.json()) as { from: number; to: number; proof: string[] };
        expect(body).toMatchObject({ from: older.treeSize, to: newer.treeSize });
        const proof = body.proof.map((h) => bytesFromHex(h));
        verifyConsistency(older.treeSize, newer.treeSize, proof, older.rootHash, newer.rootHash);
      }
  });

  it('refuses from > to, a size past the log, and missing parameters', async () => {
    const cases: [string, number, string][] = [
      ['from=5&to=4', 400, 'API_BAD_PARAMETER'],
      [`from=1&to=${lines.length + 1}`, 404, 'API_TREE_SIZE_UNKNOWN'],
      ['from=1', 400, 'API_BAD_PARAMETER'],
      ['to=3', 400, 'API_BAD_PARAMETER'],
      ['from=1&to=3&size=2', 400, 'API_BAD_PARAMETER'],
    ];
    for (const [query, status, code] of cases)
      expect(await errorOf(await get(`/v1/proofs/consistency?${query}`)), query).toMatchObject({
        status,
        code,
      });
    expect(await (await get('/v1/proofs/consistency?from=0&to=3')).json()).toEqual({
      from: 0,
      to: 3,
      proof: [],
    });
  });
});

describe('inclusion proofs', () => {
  it('prove each batch, as served, is in the tree of the latest checkpoint', async () => {
    const checkpoint = await fetchCheckpoint('/v1/checkpoint');
    expect(checkpoint.treeSize).toBe(lines.length);
    for (let seq = 0; seq < checkpoint.treeSize; seq++) {
      const batch = new Uint8Array(await (await get(`/v1/batches/${seq}`)).arrayBuffer());
      const response = await get(`/v1/proofs/inclusion?seq=${seq}&size=${checkpoint.treeSize}`);
      const body = (await response.json()) as {
        seq: number;
        treeSize: number;
        leafHash: string;
        proof: string[];
      };
      expect(body.leafHash).toBe(hexFromBytes(leafHash(batch)));
      const proof = body.proof.map((h) => bytesFromHex(h));
      verifyInclusion(seq, checkpoint.treeSize, leafHash(batch), proof, checkpoint.rootHash);
    }
  });

  it('refuses seq ≥ size, a size past the log, and bad integers', async () => {
    const cases: [string, number, string][] = [
      ['seq=3&size=3', 400, 'API_BAD_PARAMETER'],
      ['seq=0&size=0', 400, 'API_BAD_PARAMETER'],
      [`seq=0&size=${lines.length + 1}`, 404, 'API_TREE_SIZE_UNKNOWN'],
      ['seq=a&size=3', 400, 'API_BAD_PARAMETER'],
      ['size=3', 400, 'API_BAD_PARAMETER'],
    ];
    for (const [query, status, code] of cases)
      expect(await errorOf(await get(`/v1/proofs/inclusion?${query}`)), query).toMatchObject({
        status,
        code,
      });
  });
});
