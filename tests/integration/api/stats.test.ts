/**
 * `GET /v1/stats/models` over a real ledger written by the batcher: the same per-model figures as
 * `wattledger report` (recomputed here from the fixture records), a body that fits the OpenAPI
 * schema, and 400s for bad windows and filters.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServer } from '../../../src/api/server.js';
import type { Report } from '../../../src/report/report-types.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';
import { FIXTURE_RECORDS, writeReportLedger } from '../report/report-fixture.js';
import { errorOf, startApi } from './api-fixture.js';
import { validate } from './schema-check.js';

let cleanup: () => Promise<void>;
let server: ApiServer;
let get: (path: string) => Promise<Response>;

beforeAll(async () => {
  let root: string;
  ({ dir: root, cleanup } = await makeTmpDir('wattledger-api-stats-'));
  const dir = join(root, 'ledger');
  await writeReportLedger(dir);
  ({ server, get } = await startApi(dir));
});
afterAll(async () => {
  await server.close();
  await cleanup();
});

const WINDOW = 'from=2025-11-24T16:00:10Z&to=2025-11-24T16:00:30Z';

describe('GET /v1/stats/models', () => {
  it('reports the records that ended in [from, to), per model, not verified by the server', async () => {
    const response = await get(`/v1/stats/models?${WINDOW}`);
    expect(response.status).toBe(200);
    const report = (await response.json()) as Report;
    expect(report.verification.status).toBe('not-verified');
    expect(report.totals.requests).toBe(20);
    for (const stats of report.models) {
      const energy = FIXTURE_RECORDS.filter((r, i) => i >= 10 && i < 30 && r.model === stats.model).reduce(
        (a, r) => a + BigInt(r.activeEnergyMicroJoules as string),
        0n,
      );
      expect(stats.active.energyMicroJoules, String(stats.model)).toBe(energy.toString());
    }
  });

  it('answers with a body that fits the documented schema, and the schema is strict', async () => {
    const doc = (await (await get('/openapi.json')).json()) as Record<string, unknown>;
    const body = (await (await get('/v1/stats/models?model=large-70b')).json()) as Report;
    expect(body.models.map((m) => m.model)).toEqual(['large-70b']);
    const schema = { $ref: '#/components/schemas/Report' };
    expect(validate(body, schema, doc)).toEqual([]);
    const whole = await (await get('/v1/stats/models')).json();
    expect(validate(whole, schema, doc)).toEqual([]);
    // Members the schema does not know, or a missing boundary, are caught.
    expect(validate({ ...body, extra: 1 }, schema, doc)).not.toEqual([]);
    const { active: _dropped, ...withoutActive } = body.totals;
    expect(validate({ ...body, totals: withoutActive }, schema, doc)).not.toEqual([]);
  });

  it('refuses bad windows and filters with API_BAD_PARAMETER', async () => {
    for (const query of [
      'from=yesterday',
      'to=2025-13-01',
      'from=2025-11-24T17:00:00Z&to=2025-11-24T16:00:00Z',
      'model=',
      `engine=${'e'.repeat(257)}`,
      'limit=3',
    ]) {
      const error = await errorOf(await get(`/v1/stats/models?${query}`));
      expect(error.status, query).toBe(400);
      expect(error.code, query).toBe('API_BAD_PARAMETER');
    }
    const reversed = await errorOf(
      await get('/v1/stats/models?from=2025-11-24T17:00:00Z&to=2025-11-24T16:00:00Z'),
    );
    expect(reversed.message).toBe('parameter from must be before to');
  });
});
