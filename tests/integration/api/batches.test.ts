/**
 * `/v1/batches` and `/v1/batches/{seq}` over a real multi-segment ledger: the bytes served are
 * the bytes on disk, pages cross segment files and chain through `next`, ETag/304 work, the
 * index catches up with batches written after it was built, and bad parameters get stable codes.
 */
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServer } from '../../../src/api/server.js';
import { hexFromBytes, utf8FromString } from '../../../src/attest/bytes.js';
import { leafHash } from '../../../src/attest/merkle.js';
import { ledgerLines } from '../../helpers/ledger-fixture.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';
import { errorOf, startApi, writeApiLedger } from './api-fixture.js';

let cleanup: () => Promise<void>;
let dir: string;
let lines: string[];
let server: ApiServer;
let get: (path: string, init?: RequestInit) => Promise<Response>;

beforeAll(async () => {
  let root: string;
  ({ dir: root, cleanup } = await makeTmpDir('wattledger-api-batches-'));
  dir = join(root, 'ledger');
  await writeApiLedger(dir);
  lines = await ledgerLines(dir);
  ({ server, get } = await startApi(dir, { maxPageSize: 7 }));
});
afterAll(async () => {
  await server.close();
  await cleanup();
});

describe('GET /v1/batches/{seq}', () => {
  it('serves every batch byte for byte, with its leaf hash as ETag and immutable caching', async () => {
    for (const [seq, line] of lines.entries()) {
      const response = await get(`/v1/batches/${seq}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(Buffer.from(await response.arrayBuffer()).toString('utf8')).toBe(line);
      expect(response.headers.get('etag')).toBe(`"${hexFromBytes(leafHash(utf8FromString(line)))}"`);
      expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    }
  });

  it('answers 304 when If-None-Match holds the ETag (also in a list or weak), 200 otherwise', async () => {
    const etag = (await get('/v1/batches/3')).headers.get('etag')!;
    for (const header of [etag, `"x", ${etag}`, `W/${etag}`, '*']) {
      const response = await get('/v1/batches/3', { headers: { 'if-none-match': header } });
      expect(response.status, header).toBe(304);
      expect(await response.text()).toBe('');
    }
    expect((await get('/v1/batches/3', { headers: { 'if-none-match': '"other"' } })).status).toBe(200);
  });

  it('refuses a malformed sequence with 400 and an unknown one with 404', async () => {
    for (const bad of ['-1', '01', '1.5', 'abc', '9007199254740992', '1e3'])
      expect(await errorOf(await get(`/v1/batches/${bad}`)), bad).toMatchObject({
        status: 400,
        code: 'API_BAD_PARAMETER',
      });
    expect(await errorOf(await get(`/v1/batches/${lines.length}`))).toMatchObject({
      status: 404,
      code: 'API_BATCH_NOT_FOUND',
    });
    expect(await errorOf(await get('/v1/batches/1?x=1'))).toMatchObject({
      status: 400,
      code: 'API_BAD_PARAMETER',
    });
  });
});

interface Page {
  from: number;
  next: number | null;
  treeSize: number;
  batches: unknown[];
}

describe('GET /v1/batches', () => {
  it('pages through the whole log across segment files, envelopes spliced in verbatim', async () => {
    const seen: string[] = [];
    let from: number | null = 0;
    let pages = 0;
    while (from !== null) {
      const response = await get(`/v1/batches?from=${from}&limit=5`);
      expect(response.status).toBe(200);
      const text = await response.text();
      const page = JSON.parse(text) as Page;
      const expected = lines.slice(from, from + 5);
      // Byte-exact: the body is the stored lines joined by commas inside a fixed frame.
      expect(text).toBe(
        `{"from":${from},"next":${page.next},"treeSize":${lines.length},"batches":[${expected.join(',')}]}`,
      );
      if (page.next !== null)
        expect(response.headers.get('link')).toBe(`</v1/batches?from=${page.next}&limit=5>; rel="next"`);
      seen.push(...expected);
      from = page.next;
      pages += 1;
    }
    expect(seen).toEqual(lines);
    expect(pages).toBe(Math.ceil(lines.length / 5));
  });

  it('defaults from to 0 and limit to the cap, and answers an empty page past the end', async () => {
    const page = (await (await get('/v1/batches')).json()) as Page;
    expect(page).toMatchObject({ from: 0, next: 7, treeSize: lines.length });
    expect(page.batches).toHaveLength(7);
    const end = (await (await get(`/v1/batches?from=${lines.length}`)).json()) as Page;
    expect(end).toEqual({ from: lines.length, next: null, treeSize: lines.length, batches: [] });
  });

  it('refuses a limit over the cap, bad integers, repeats and unknown parameters with 400', async () => {
    for (const query of ['limit=8', 'limit=0', 'from=-1', 'from=x', 'from=1&from=2', 'limt=3', 'from='])
      expect(await errorOf(await get(`/v1/batches?${query}`)), query).toMatchObject({
        status: 400,
        code: 'API_BAD_PARAMETER',
      });
  });
});

describe('a ledger edited under the index', () => {
  it('is refused with 500 API_LEDGER_INCONSISTENT rather than served under a stale ETag', async () => {
    const { dir: other, cleanup: done } = await makeTmpDir('wattledger-api-edited-');
    await cp(dir, other, { recursive: true });
    const api = await startApi(other);
    try {
      const first = join(other, 'ledger-000001.jsonl');
      const text = await readFile(first, 'utf8');
      await writeFile(first, text.replace('"payloadType"', '"payloadTypE"'));
      expect(await errorOf(await api.get('/v1/batches/0'))).toMatchObject({
        status: 500,
        code: 'API_LEDGER_INCONSISTENT',
      });
      expect(await errorOf(await api.get('/v1/batches?from=0'))).toMatchObject({
        status: 500,
        code: 'API_LEDGER_INCONSISTENT',
      });
    } finally {
      await api.server.close();
      await done();
    }
  });
});

describe('an index built before more batches were written', () => {
  it('catches up when a client asks past its end', async () => {
    const { dir: other, cleanup: done } = await makeTmpDir('wattledger-api-live-');
    const api = await startApi(other);
    try {
      await writeApiLedger(other, 30);
      const now = await ledgerLines(other);
      const response = await api.get(`/v1/batches/${now.length - 1}`);
      expect(await response.text()).toBe(now.at(-1));
      expect(((await (await api.get('/v1/batches?limit=100')).json()) as Page).batches).toHaveLength(
        now.length,
      );
    } finally {
      await api.server.close();
      await done();
    }
  });
});
