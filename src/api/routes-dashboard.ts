import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { DeviceStatus } from '../meter/meter.js';
import { readBatch } from './batch-reader.js';
import { ApiError } from './errors.js';
import type { LedgerIndex } from './ledger-index.js';
import { findRecordLine, type ScanLimiter } from './ledger-scans.js';
import { type BatchFacts, batchFacts, type MeterJson, meterJson } from './meter-json.js';
import { integerParam, requestIdParam, singleQuery } from './params.js';
import { type RecordLine, recentRecordLines } from './records-tail.js';

/** What the dashboard routes need. */
export interface DashboardRouteContext {
  readonly index: LedgerIndex;
  readonly ledgerDir: string;
  readonly scans: ScanLimiter;
  /** The meter's devices now (the daemon's `meter.status()`). */
  readonly live: () => readonly DeviceStatus[];
}

/** The page files, each with its type; nothing else under `/dashboard/` is served. */
const ASSETS: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'receipt.html': 'text/html; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'receipt.js': 'text/javascript; charset=utf-8',
  'meter.js': 'text/javascript; charset=utf-8',
};

/**
 * Built by `npm run build` (scripts/build-dashboard.mjs) into `dist/src/dashboard/`, next to this
 * module's folder once compiled; run from the TypeScript sources (vitest), the same built folder.
 */
const ASSET_DIR = fileURLToPath(import.meta.url).includes('/dist/src/')
  ? new URL('../dashboard/', import.meta.url)
  : new URL('../../dist/src/dashboard/', import.meta.url);

/** Most meters `/v1/dashboard/recent` returns. */
export const MAX_RECENT = 100;

/** Every page and script, read once; a missing file is served as a 503 that says how to build it. */
function loadAssets(): Map<string, Buffer | null> {
  const files = new Map<string, Buffer | null>();
  for (const name of Object.keys(ASSETS)) {
    try {
      files.set(name, readFileSync(fileURLToPath(new URL(name, ASSET_DIR))));
    } catch {
      files.set(name, null);
    }
  }
  return files;
}

/**
 * The dashboard (docs/DASHBOARD.md): its static pages under `/dashboard/` (served from the
 * package, no CDN, a strict Content-Security-Policy), live device power, and the meters of the
 * latest sealed requests. Registered only by a daemon, which has a meter.
 */
export function registerDashboardRoutes(app: FastifyInstance, context: DashboardRouteContext): void {
  const files = loadAssets();
  const facts = new Map<string, BatchFacts | null>();
  app.get('/dashboard/', async (request, reply) => serveAsset(files, 'index.html', request.query, reply));
  app.get('/dashboard/:file', async (request, reply) =>
    serveAsset(files, (request.params as { file?: string }).file ?? '', request.query, reply),
  );
  app.get('/v1/dashboard/live', async (request) => {
    singleQuery(request.query, []);
    return liveJson(context, await lastBatch(context, facts));
  });
  app.get('/v1/dashboard/recent', async (request) => {
    const query = singleQuery(request.query, ['limit']);
    const limit = integerParam('limit', query.limit, { min: 1, max: MAX_RECENT, default: 20 });
    // Records are written before their batch: only those of sealed batches are shown.
    const lines = (await recentRecordLines(context.ledgerDir, limit * 2)).filter(
      (line) => Number(line.sequence) < context.index.size,
    );
    const meters: MeterJson[] = [];
    for (const line of lines.slice(0, limit)) {
      const meter = await meterOf(context, facts, line);
      if (meter !== null) meters.push(meter);
    }
    return { meters };
  });
  app.get('/v1/dashboard/meter/:requestId', async (request) => {
    singleQuery(request.query, []);
    const requestId = requestIdParam((request.params as { requestId?: string }).requestId);
    const text = await context.scans.run(() => findRecordLine(context.ledgerDir, requestId));
    const line = text === null ? null : (JSON.parse(text) as RecordLine);
    const meter = line === null ? null : await meterOf(context, facts, line);
    if (meter === null)
      throw new ApiError(
        'API_RECORD_NOT_FOUND',
        `no sealed request record with id ${JSON.stringify(requestId)}`,
      );
    return meter;
  });
}

async function serveAsset(
  files: Map<string, Buffer | null>,
  name: string,
  query: unknown,
  reply: import('fastify').FastifyReply,
) {
  singleQuery(query, []);
  const type = ASSETS[name];
  if (type === undefined) throw new ApiError('API_NOT_FOUND', `no dashboard file ${JSON.stringify(name)}`);
  const body = files.get(name);
  if (body === null || body === undefined)
    throw new ApiError('API_INTERNAL', 'the dashboard is not built: run `npm run build` in the package');
  return reply
    .type(type)
    .header('cache-control', 'no-cache')
    .header(
      'content-security-policy',
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'",
    )
    .send(body);
}

/** The meter of a record line, or null when its batch is not sealed (or cannot be read). */
async function meterOf(
  context: DashboardRouteContext,
  cache: Map<string, BatchFacts | null>,
  line: RecordLine,
): Promise<MeterJson | null> {
  const seq = Number(line.sequence);
  if (!Number.isSafeInteger(seq) || seq >= context.index.size) return null;
  const facts = await factsOf(context, cache, seq);
  return facts ? meterJson(line, facts) : null;
}

/** The facts of batch `seq`, read once (a sealed batch never changes). */
async function factsOf(
  context: DashboardRouteContext,
  cache: Map<string, BatchFacts | null>,
  seq: number,
): Promise<BatchFacts | null> {
  const key = String(seq);
  if (!cache.has(key)) {
    const bytes = await readBatch(context.index, seq);
    if (cache.size > 1000) cache.clear();
    cache.set(key, bytes === undefined ? null : batchFacts(bytes));
  }
  return cache.get(key) ?? null;
}

/** The newest batch's sequence, window end and record count; null before the first. */
async function lastBatch(context: DashboardRouteContext, cache: Map<string, BatchFacts | null>) {
  const seq = context.index.size - 1;
  if (seq < 0) return null;
  const facts = await factsOf(context, cache, seq);
  return { sequence: String(seq), endedAt: facts?.endedAt ?? null, records: facts?.records ?? null };
}

/** Power and energy of every device now, and the ledger's state. Energy is a decimal string of µJ. */
function liveJson(context: DashboardRouteContext, last: Awaited<ReturnType<typeof lastBatch>>) {
  const devices = context.live().map((s) => ({
    id: s.device.id,
    name: s.device.name,
    hwType: s.device.hwType,
    index: s.device.index,
    simulated: s.device.simulated,
    powerMilliWatts: s.powerMilliWatts,
    powerLimitMilliWatts: s.device.powerLimitMilliWatts ?? null,
    energyMicroJoules: s.energyMicroJoules.toString(),
  }));
  return {
    at: new Date().toISOString(),
    simulated: devices.some((d) => d.simulated),
    devices,
    ledger: { ...context.index.status(), lastBatch: last },
  };
}
