/**
 * The dashboard routes on the real API server over a real ledger (docs/DASHBOARD.md): the pages
 * from the package with a strict CSP, live device power from a real meter, the meters of the
 * newest sealed records and of one record, and the OpenAPI document listing exactly the routes.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerIndex } from '../../../src/api/ledger-index.js';
import { type ApiServer, createApiServer } from '../../../src/api/server.js';
import { DEMO_ENGINES, DEMO_GPU } from '../../../src/demo/models.js';
import { DemoNodeProbe } from '../../../src/demo/node-probe.js';
import { TruthLedger } from '../../../src/harness/truth-ledger.js';
import { Meter } from '../../../src/meter/meter.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';
import { apiKeys, errorOf, writeApiLedger } from './api-fixture.js';

let cleanup: () => Promise<void>;
let server: ApiServer;
let dir: string;
let get: (path: string) => Promise<Response>;

beforeAll(async () => {
  let root: string;
  ({ dir: root, cleanup } = await makeTmpDir('wattledger-api-dashboard-'));
  dir = join(root, 'ledger');
  await writeApiLedger(dir);
  const clock = new ManualClock();
  const engines = DEMO_ENGINES.map((engine) => ({
    engine,
    ledger: new TruthLedger({
      idleMilliWatts: DEMO_GPU.idleMilliWatts * engine.gpuIndexes.length,
      originNanos: clock.monoNanos(),
    }),
  }));
  const probe = new DemoNodeProbe(engines, clock);
  const meter = new Meter([{ probe, devices: (await probe.open()).devices, intervalMs: 100 }], {
    clock,
    readTimeoutMs: 1000,
  });
  await meter.tickAll();
  clock.advanceMillis(1500);
  await meter.tickAll();
  const index = new LedgerIndex(dir);
  await index.build();
  server = await createApiServer({
    index,
    ledgerDir: dir,
    keys: apiKeys(),
    health: () => ({ ready: true, detail: {} }),
    listen: { host: '127.0.0.1', port: 0 },
    live: () => meter.status(),
  });
  get = (path) => fetch(`${server.url}${path}`);
});
afterAll(async () => {
  await server.close();
  await cleanup();
});

/** The record-log lines of the test ledger, in file order. */
async function recordLines(): Promise<{ sequence: string; record: { requestId: string } }[]> {
  const text = await readFile(join(dir, 'records', 'ledger-000001.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}

describe('the dashboard routes', () => {
  it('serve the pages from the package with a CSP that allows nothing from elsewhere', async () => {
    const page = await get('/dashboard/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await page.text()).toContain('<script type="module" src="dashboard.js"></script>');
    for (const file of ['receipt.html', 'dashboard.css', 'dashboard.js', 'receipt.js', 'meter.js'])
      expect((await get(`/dashboard/${file}`)).status, file).toBe(200);
    expect(await errorOf(await get('/dashboard/secret.key'))).toMatchObject({
      status: 404,
      code: 'API_NOT_FOUND',
    });
    expect(await errorOf(await get('/dashboard/?x=1'))).toMatchObject({
      status: 400,
      code: 'API_BAD_PARAMETER',
    });
  });

  it("report each device's power and the ledger's state", async () => {
    const live = (await (await get('/v1/dashboard/live')).json()) as {
      simulated: boolean;
      devices: { powerMilliWatts: number; energyMicroJoules: string; simulated: boolean }[];
      ledger: { batches: number; lastBatch: { sequence: string; endedAt: string } };
    };
    expect(live.simulated).toBe(true);
    expect(live.devices).toHaveLength(8);
    // Nothing ran on the node: every GPU at its idle power, 70 W × 1.5 s measured.
    expect(live.devices.every((d) => d.powerMilliWatts === DEMO_GPU.idleMilliWatts)).toBe(true);
    expect(live.devices.every((d) => d.energyMicroJoules === '105000000')).toBe(true);
    expect(live.ledger.lastBatch.sequence).toBe(String(live.ledger.batches - 1));
    expect(live.ledger.lastBatch.endedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('give the meters of the newest sealed records, newest first', async () => {
    const { meters } = (await (await get('/v1/dashboard/recent?limit=4')).json()) as {
      meters: { requestId: string; sequence: string; measurement: string; receiptPath: string }[];
    };
    const lines = await recordLines();
    const newest = lines.slice(-4).reverse();
    expect(meters.map((m) => m.requestId)).toEqual(newest.map((l) => l.record.requestId));
    expect(meters.every((m) => m.measurement === 'simulated')).toBe(true);
    expect(meters[0]?.receiptPath).toBe(`/v1/receipts/${newest[0]?.record.requestId}`);
    expect(await errorOf(await get('/v1/dashboard/recent?limit=0'))).toMatchObject({ status: 400 });
  });

  it("give one record's meter with its batch's factors, and 404 for an unknown id", async () => {
    const line = (await recordLines())[0];
    const meter = (await (await get(`/v1/dashboard/meter/${line?.record.requestId}`)).json()) as Record<
      string,
      unknown
    >;
    expect(meter).toMatchObject({
      meterVersion: 1,
      requestId: line?.record.requestId,
      sequence: line?.sequence,
      fallbackFactor: false,
    });
    expect(meter.verifyPath).toBe(
      `/dashboard/receipt.html#receipt=${encodeURIComponent(`/v1/receipts/${line?.record.requestId}`)}`,
    );
    expect(await errorOf(await get('/v1/dashboard/meter/no-such-id'))).toMatchObject({
      status: 404,
      code: 'API_RECORD_NOT_FOUND',
    });
  });

  it('are listed in the OpenAPI document exactly as registered', async () => {
    const doc = (await (await get('/openapi.json')).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m} ${path}`),
    );
    const registered = server.routes.map((r) => `${r.method} ${r.path}`);
    expect(registered.sort()).toEqual(documented.sort());
    expect(documented).toContain('get /v1/dashboard/live');
  });
});
