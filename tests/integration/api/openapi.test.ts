/**
 * Keeps `/openapi.json` true: the routes the server registers and the document's paths are the
 * same set; each operation's query parameters are the ones the server accepts; and real
 * responses (successes and errors) validate against the schemas the document gives for their
 * status and content type.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServer } from '../../../src/api/server.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';
import { startApi, writeApiLedger } from './api-fixture.js';
import { validate } from './schema-check.js';

type Doc = Record<string, unknown> & { paths: Record<string, Record<string, Operation>> };
interface Operation {
  parameters: { name: string; in: string }[];
  responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
}

let cleanup: () => Promise<void>;
let server: ApiServer;
let get: (path: string) => Promise<Response>;
let doc: Doc;

beforeAll(async () => {
  let root: string;
  ({ dir: root, cleanup } = await makeTmpDir('wattledger-api-openapi-'));
  const dir = join(root, 'ledger');
  await writeApiLedger(dir);
  ({ server, get } = await startApi(dir, { maxPageSize: 50 }));
  doc = (await (await get('/openapi.json')).json()) as Doc;
});
afterAll(async () => {
  await server.close();
  await cleanup();
});

/** The document's path template that `path` (without query) falls under. */
function templateOf(path: string): string {
  const bare = path.split('?')[0]!;
  const match = Object.keys(doc.paths).find((t) =>
    new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(bare),
  );
  if (match === undefined) throw new Error(`no documented path for ${bare}`);
  return match;
}

/** A concrete path of a template: `{seq}`/`{size}` → 2, `{requestId}` → a real id. */
function concrete(template: string): string {
  return template.replace('{requestId}', 'req-2-0').replace(/\{[^}]+\}/g, '2');
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 and lists exactly the routes the server registers', () => {
    expect(doc.openapi).toBe('3.1.0');
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m} ${path}`),
    );
    const registered = server.routes.map((r) => `${r.method} ${r.path}`);
    expect(registered.sort()).toEqual(documented.sort());
    expect(registered.length).toBeGreaterThanOrEqual(12);
  });

  it('documents for each route exactly the query parameters the server accepts', async () => {
    for (const [template, ops] of Object.entries(doc.paths)) {
      const names = ops.get!.parameters.filter((p) => p.in === 'query').map((p) => p.name);
      const response = await get(`${concrete(template)}?zzz=1`);
      expect(response.status, template).toBe(400);
      const { error } = (await response.json()) as { error: { message: string } };
      const accepted = /\(([^)]*)\)$/.exec(error.message)?.[1];
      expect(accepted, template).toBe(names.length === 0 ? 'none' : names.join(', '));
      for (const p of ops.get!.parameters.filter((p) => p.in === 'path'))
        expect(template).toContain(`{${p.name}}`);
    }
  });

  it('describes the responses of real requests: status, content type and body schema', async () => {
    const samples: [string, number][] = [
      ['/healthz', 200],
      ['/readyz', 200],
      ['/v1/keys', 200],
      ['/v1/keys?format=full', 200],
      ['/v1/batches?from=3&limit=4', 200],
      ['/v1/batches?limit=51', 400],
      ['/v1/batches/4', 200],
      ['/v1/batches/999', 404],
      ['/v1/checkpoint', 200],
      ['/v1/checkpoints/4', 200],
      ['/v1/checkpoints/3', 404],
      ['/v1/proofs/consistency?from=2&to=6', 200],
      ['/v1/proofs/consistency?from=2&to=600', 404],
      ['/v1/proofs/inclusion?seq=1&size=6', 200],
      ['/v1/proofs/inclusion?seq=6&size=6', 400],
      ['/v1/receipts/req-38-1', 200],
      ['/v1/receipts/nope', 404],
      ['/v1/records/req-38-1', 200],
      ['/v1/records/%20', 400],
      ['/openapi.json', 200],
    ];
    for (const [path, status] of samples) {
      const response = await get(path);
      expect(response.status, path).toBe(status);
      const declared = doc.paths[templateOf(path)]!.get!.responses[String(status)];
      expect(declared, `${path} ${status} is documented`).toBeDefined();
      const type = response.headers.get('content-type')!.split(';')[0]!;
      const media = declared!.content?.[type];
      expect(media, `${path}: ${type} is documented`).toBeDefined();
      const body = type === 'application/json' ? await response.json() : await response.text();
      expect(validate(body, media!.schema, doc), path).toEqual([]);
    }
  });

  it('describes 304 and 503 answers too', async () => {
    const etag = (await get('/v1/batches/1')).headers.get('etag')!;
    const response = await fetch(`${server.url}/v1/batches/1`, { headers: { 'if-none-match': etag } });
    expect(response.status).toBe(304);
    expect(doc.paths['/v1/batches/{seq}']!.get!.responses['304']).toBeDefined();
    expect(Object.keys(doc.paths['/readyz']!.get!.responses)).toContain('503');
  });

  it('has a checker that rejects bodies that do not fit (so the checks above mean something)', () => {
    const schema = { $ref: '#/components/schemas/InclusionProof' };
    expect(validate({ seq: 1, treeSize: 2, leafHash: 'x', proof: [] }, schema, doc)).not.toEqual([]);
    expect(
      validate({ seq: 1, treeSize: 2, leafHash: 'a'.repeat(64), proof: [], extra: 1 }, schema, doc),
    ).not.toEqual([]);
    expect(() => validate(1, { type: 'integer', multipleOf: 2 }, doc)).toThrow(/not supported/);
  });
});
