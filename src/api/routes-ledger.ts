import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hexFromBytes } from '../attest/bytes.js';
import { LATEST_CHECKPOINT_FILE } from '../ledger/checkpoint-writer.js';
import { readBatch, readBatchPage } from './batch-reader.js';
import { ApiError, badParameter } from './errors.js';
import type { LedgerIndex } from './ledger-index.js';
import { integerParam, singleQuery } from './params.js';

/**
 * Routes over the log itself: batches, checkpoints and RFC 9162 proofs. All of them are served
 * from the index and positioned reads; none scans the ledger. A request that names something past
 * the index's end first makes it catch up with the disk, so a client that just read a new
 * checkpoint can ask for proofs to its size at once.
 */

/** What the ledger routes need. */
export interface LedgerRouteContext {
  readonly index: LedgerIndex;
  readonly ledgerDir: string;
  readonly maxPageSize: number;
}

/** A page stops growing past this many bytes, whatever `limit` says. */
export const MAX_PAGE_BYTES = 8 * 1024 * 1024;
/** Default `limit` of `/v1/batches` (capped by the configured maximum). */
export const DEFAULT_PAGE_SIZE = 100;
const IMMUTABLE = 'public, max-age=31536000, immutable';
const ANY_SIZE = { min: 0, max: Number.MAX_SAFE_INTEGER };

type Params = Record<string, string | undefined>;

/** Registers the batch, checkpoint and proof routes. */
export function registerLedgerRoutes(app: FastifyInstance, context: LedgerRouteContext): void {
  const { index } = context;
  app.get('/v1/batches', (request, reply) => batchPage(context, request, reply));
  app.get('/v1/batches/:seq', (request, reply) => oneBatch(index, request, reply));
  app.get('/v1/checkpoint', async (request, reply) => {
    singleQuery(request.query, []);
    const note = await readNote(
      join(context.ledgerDir, LATEST_CHECKPOINT_FILE),
      'no checkpoint is published yet',
    );
    return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-cache').send(note);
  });
  app.get('/v1/checkpoints/:size', async (request, reply) => {
    singleQuery(request.query, []);
    const size = integerParam('size', (request.params as Params).size, ANY_SIZE);
    const note = await readNote(index.checkpointPath(size), `no checkpoint of tree size ${size}`);
    return reply.type('text/plain; charset=utf-8').header('cache-control', IMMUTABLE).send(note);
  });
  app.get('/v1/proofs/consistency', async (request, reply) => {
    const query = singleQuery(request.query, ['from', 'to']);
    const from = integerParam('from', query.from, ANY_SIZE);
    const to = integerParam('to', query.to, ANY_SIZE);
    if (from > to) throw badParameter('from', `at most to (${to})`);
    await requireTreeSize(index, to);
    const proof = index.consistencyProof(from, to).map(hexFromBytes);
    return reply.header('cache-control', IMMUTABLE).send({ from, to, proof });
  });
  app.get('/v1/proofs/inclusion', async (request, reply) => {
    const query = singleQuery(request.query, ['seq', 'size']);
    const seq = integerParam('seq', query.seq, ANY_SIZE);
    const treeSize = integerParam('size', query.size, { min: 1, max: Number.MAX_SAFE_INTEGER });
    if (seq >= treeSize) throw badParameter('seq', `below size (${treeSize})`);
    await requireTreeSize(index, treeSize);
    const leafHash = hexFromBytes(index.leafHash(seq)!);
    const proof = index.inclusionProof(seq, treeSize).map(hexFromBytes);
    return reply.header('cache-control', IMMUTABLE).send({ seq, treeSize, leafHash, proof });
  });
}

/** Throws `API_NOT_READY` while the index is being built. */
export function requireReady(index: LedgerIndex): void {
  if (!index.ready)
    throw new ApiError('API_NOT_READY', 'the ledger index is still being built; retry shortly', {
      retryAfterSeconds: 5,
    });
}

/** Catches up when `size` is past the index; then `API_TREE_SIZE_UNKNOWN` if it still is. */
async function requireTreeSize(index: LedgerIndex, size: number): Promise<void> {
  requireReady(index);
  if (size > index.size) await index.refresh();
  if (size > index.size)
    throw new ApiError(
      'API_TREE_SIZE_UNKNOWN',
      `tree size ${size} is beyond the log's ${index.size} batches`,
    );
}

async function readNote(path: string, missing: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new ApiError('API_CHECKPOINT_NOT_FOUND', missing);
    throw error;
  }
}

/** `GET /v1/batches`: the stored lines spliced verbatim into one JSON object. */
async function batchPage(context: LedgerRouteContext, request: FastifyRequest, reply: FastifyReply) {
  const { index, maxPageSize } = context;
  const query = singleQuery(request.query, ['from', 'limit']);
  const from = integerParam('from', query.from, { ...ANY_SIZE, default: 0 });
  const limit = integerParam('limit', query.limit, {
    min: 1,
    max: maxPageSize,
    default: Math.min(DEFAULT_PAGE_SIZE, maxPageSize),
  });
  requireReady(index);
  if (from + limit > index.size) await index.refresh();
  const page = await readBatchPage(index, from, limit, MAX_PAGE_BYTES);
  const head = `{"from":${from},"next":${page.next},"treeSize":${index.size},"batches":[`;
  const parts = page.lines.flatMap((line, i) => (i === 0 ? [line] : [COMMA, line]));
  if (page.next !== null) reply.header('link', `</v1/batches?from=${page.next}&limit=${limit}>; rel="next"`);
  return reply.type('application/json').send(Buffer.concat([Buffer.from(head), ...parts, Buffer.from(']}')]));
}

const COMMA = Buffer.from(',');

/** `GET /v1/batches/{seq}`: one envelope, byte-exact, with its leaf hash as a strong ETag. */
async function oneBatch(index: LedgerIndex, request: FastifyRequest, reply: FastifyReply) {
  singleQuery(request.query, []);
  const seq = integerParam('seq', (request.params as Params).seq, ANY_SIZE);
  requireReady(index);
  if (seq >= index.size) await index.refresh();
  const hash = index.leafHash(seq);
  if (hash === undefined)
    throw new ApiError('API_BATCH_NOT_FOUND', `no batch ${seq}; the log holds ${index.size}`);
  const etag = `"${hexFromBytes(hash)}"`;
  // Immutable: a batch never changes once in the log, so caches may keep it forever.
  reply.header('etag', etag).header('cache-control', IMMUTABLE);
  if (matchesEtag(request.headers['if-none-match'], etag)) return reply.code(304).send();
  const bytes = await readBatch(index, seq);
  return reply.type('application/json').send(bytes);
}

/** RFC 9110 §13.1.2: `*` or any listed tag, compared weakly (a `W/` prefix is ignored). */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
