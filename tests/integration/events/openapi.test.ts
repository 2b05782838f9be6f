/**
 * Keeps the event API's `/openapi.json` true: its paths are exactly the registered routes, the
 * request samples the other tests send validate against its request schemas (and invalid ones do
 * not), and real responses of every documented status validate against its response schemas.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validate } from '../api/schema-check.js';
import { type EventFixture, errorOf, startEvents } from './fixture.js';

type Schema = Record<string, unknown>;
interface Operation {
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
}
type Doc = Schema & { paths: Record<string, Record<string, Operation>> };

let f: EventFixture;
let doc: Doc;
let fail = false;

beforeAll(async () => {
  f = await startEvents({
    maxInFlight: 1,
    maxBodyBytes: 1024,
    sink: (event) => {
      if (fail && event.type === 'end') throw new Error('sink down');
    },
  });
  doc = (await (await fetch(`${f.server.url}/openapi.json`)).json()) as Doc;
});
afterAll(async () => f.server.close());

function operation(path: string, method = 'post'): Operation {
  const template = Object.keys(doc.paths).find((t) =>
    new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path.split('?')[0]!),
  );
  if (template === undefined) throw new Error(`no documented path for ${path}`);
  return doc.paths[template]![method]!;
}

function requestSchema(path: string): Schema {
  return operation(path).requestBody!.content['application/json']!.schema;
}

describe('the event API OpenAPI document', () => {
  it('is OpenAPI 3.1 and lists exactly the routes the server registers', () => {
    expect(doc.openapi).toBe('3.1.0');
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m} ${path}`),
    );
    const registered = f.server.routes.map((r) => `${r.method} ${r.path}`);
    expect(registered.sort()).toEqual(documented.sort());
    expect(registered).toHaveLength(5);
  });

  it('describes request bodies: valid samples pass, invalid ones do not', () => {
    const valid: [string, unknown][] = [
      [
        '/v1/requests/start',
        {
          requestId: 'a:b.c-1_2',
          engineId: 'vllm-a',
          operation: 'chat',
          startedAt: '2025-11-24T15:59:59.123456789+00:00',
        },
      ],
      ['/v1/requests/x/progress', { outputTokens: 3, at: '2025-11-24T15:59:59Z' }],
      [
        '/v1/requests/x/end',
        { outcome: 'ok', usage: { inputTokens: 1, cachedInputTokens: 0, outputTokens: 2 } },
      ],
      [
        '/v1/requests/batch',
        {
          events: [
            { type: 'progress', requestId: 'x', outputTokens: 1 },
            { type: 'end', requestId: 'x', outcome: 'error' },
          ],
        },
      ],
    ];
    for (const [path, body] of valid) expect(validate(body, requestSchema(path), doc), path).toEqual([]);
    const invalid: [string, unknown][] = [
      ['/v1/requests/start', { requestId: 'a', engineId: 'tgi-c' }],
      ['/v1/requests/start', { requestId: 'a b', engineId: 'vllm-a' }],
      ['/v1/requests/x/progress', { outputTokens: -1 }],
      ['/v1/requests/x/end', { outcome: 'ok', extra: 1 }],
      ['/v1/requests/batch', { events: [{ type: 'start', requestId: 'x' }] }],
      ['/v1/requests/batch', { events: [] }],
    ];
    for (const [path, body] of invalid)
      expect(validate(body, requestSchema(path), doc), path).not.toEqual([]);
  });

  it('describes the responses of real requests: status, content type and body schema', async () => {
    const start = { requestId: 'o1', engineId: 'vllm-a' };
    const samples: [string, unknown, number, string | null][] = [
      ['/v1/requests/start', start, 202, null],
      ['/v1/requests/start', start, 200, null],
      ['/v1/requests/start', { ...start, engineId: 'sglang-b' }, 409, null],
      ['/v1/requests/start', { requestId: 'o2', engineId: 'vllm-a' }, 429, null],
      ['/v1/requests/start', { requestId: 'o2', engineId: 'nope', x: 1 }, 400, null],
      ['/v1/requests/start', start, 401, 'wrong-token-0123456789'],
      ['/v1/requests/start', { ...start, model: 'm'.repeat(2000) }, 413, null],
      ['/v1/requests/o1/progress', { outputTokens: 2 }, 202, null],
      ['/v1/requests/o1/progress', { outputTokens: 1 }, 409, null],
      ['/v1/requests/zz/progress', { outputTokens: 1 }, 404, null],
      ['/v1/requests/zz/end', { outcome: 'ok' }, 404, null],
      ['/v1/requests/batch', { events: [{ type: 'end', requestId: 'zz', outcome: 'ok' }] }, 200, null],
      ['/v1/requests/batch', { events: [{ type: 'end', requestId: 'o1' }] }, 400, null],
    ];
    for (const [path, body, status, token] of samples)
      await expectDocumented(path, await f.post(path, body, token ? { token } : {}), status);
    await expectDocumented(
      '/v1/requests/start',
      await f.post('/v1/requests/start', 'x', { headers: { 'content-type': 'text/plain' } }),
      415,
    );
    fail = true;
    await expectDocumented(
      '/v1/requests/o1/end',
      await f.post('/v1/requests/o1/end', { outcome: 'ok' }),
      500,
    );
    fail = false;
    await expectDocumented(
      '/v1/requests/o1/end',
      await f.post('/v1/requests/o1/end', { outcome: 'ok' }),
      202,
    );
    await expectDocumented('/openapi.json', await fetch(`${f.server.url}/openapi.json`), 200, 'get');
    await expectDocumented('/openapi.json', await fetch(`${f.server.url}/openapi.json?x=1`), 400, 'get');
    expect((await errorOf(await fetch(`${f.server.url}/nope`))).status).toBe(401);
  });
});

async function expectDocumented(
  path: string,
  response: Response,
  status: number,
  method = 'post',
): Promise<void> {
  expect(response.status, path).toBe(status);
  const declared = operation(path, method).responses[String(status)];
  expect(declared, `${method} ${path} ${status} is documented`).toBeDefined();
  const type = response.headers.get('content-type')!.split(';')[0]!;
  const media = declared!.content?.[type];
  expect(media, `${path} ${status}: ${type} is documented`).toBeDefined();
  expect(validate(await response.json(), media!.schema, doc), `${path} ${status}`).toEqual([]);
}
