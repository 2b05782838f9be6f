import { describe, expect, it } from 'vitest';
import { forwardHeaders, MEASURED_REQUEST_DROP } from '../../../src/proxy/headers.js';
import { parseJsonObject, planBody as planParsed, rejectsInjection } from '../../../src/proxy/inject.js';

/** Parses and plans, as the proxy does. */
function planBody(raw: Buffer, operation: 'chat' | 'completion' | 'embedding' | 'responses', allow: boolean) {
  const json = parseJsonObject(raw);
  return json === undefined ? undefined : planParsed(raw, json, operation, allow);
}

import { childTraceContext } from '../../../src/proxy/trace.js';

const body = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

describe('planBody (stream_options injection)', () => {
  it('adds include_usage to a streamed chat request without touching any other byte', () => {
    const raw = body('{ "model": "m", "stream": true, "seed": 12345678901234567890, "temperature": 1.0 }');
    const plan = planBody(raw, 'chat', true)!;
    expect(plan).toMatchObject({ model: 'm', stream: true, injected: true });
    expect(plan.body.toString()).toBe(
      '{"stream_options":{"include_usage":true}, "model": "m", "stream": true, "seed": 12345678901234567890, "temperature": 1.0 }',
    );
  });

  it('merges into stream_options the client sent without include_usage', () => {
    const plan = planBody(
      body({ model: 'm', stream: true, stream_options: { continuous_usage_stats: true } }),
      'completion',
      true,
    )!;
    expect(plan.injected).toBe(true);
    expect(JSON.parse(plan.body.toString()).stream_options).toEqual({
      continuous_usage_stats: true,
      include_usage: true,
    });
  });

  it('leaves the body alone when the client set include_usage (true or false), did not stream, or cannot take it', () => {
    const cases: Array<[unknown, 'chat' | 'embedding' | 'responses']> = [
      [{ stream: true, stream_options: { include_usage: true } }, 'chat'],
      [{ stream: true, stream_options: { include_usage: false } }, 'chat'],
      [{ stream: false }, 'chat'],
      [{ stream: 'true' }, 'chat'],
      [{ input: 'x' }, 'embedding'],
      [{ stream: true, input: 'x' }, 'responses'],
    ];
    for (const [json, operation] of cases) {
      const raw = body(json);
      const plan = planBody(raw, operation, true)!;
      expect(plan.injected).toBe(false);
      expect(plan.body).toBe(raw);
    }
    expect(planBody(body({ stream: true }), 'chat', false)!.injected).toBe(false);
  });

  it('measures nothing for bodies that are not JSON objects', () => {
    for (const raw of ['not json', '[1,2]', 'null', '"s"', ''])
      expect(planBody(body(raw), 'chat', true)).toBeUndefined();
  });

  it('recognises a server refusing stream_options', () => {
    const vllm = body({
      object: 'error',
      message: "extra fields not permitted: 'stream_options'",
      code: 400,
    });
    expect(rejectsInjection(400, vllm)).toBe(true);
    expect(rejectsInjection(422, body({ error: 'unknown field `stream_options`' }))).toBe(true);
    expect(rejectsInjection(400, body({ error: { message: 'model not found' } }))).toBe(false);
    expect(rejectsInjection(500, vllm)).toBe(false);
  });
});

describe('childTraceContext (W3C traceparent)', () => {
  const fixed = (byte: number) => (n: number) => Buffer.alloc(n, byte);

  it("keeps the client's trace id and flags, with a new span id", () => {
    const incoming = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';
    expect(childTraceContext(incoming, fixed(0xab))).toEqual({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-abababababababab-00',
    });
  });

  it('starts a sampled trace when the header is absent or invalid', () => {
    const invalid = [
      undefined,
      'garbage',
      '00-00000000000000000000000000000000-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
      'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra',
    ];
    for (const header of invalid) {
      expect(childTraceContext(header, fixed(0x11)).traceparent).toBe(
        `00-${'11'.repeat(16)}-${'11'.repeat(8)}-01`,
      );
    }
  });

  it('accepts a future version with extra fields, and never emits an all-zero id', () => {
    const future = '01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-ever';
    expect(childTraceContext(future).traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    let calls = 0;
    const zeroThenOnes = (n: number) => Buffer.alloc(n, calls++ === 0 ? 0 : 1);
    expect(childTraceContext(undefined, zeroThenOnes).traceId).toBe('01'.repeat(16));
  });

  it('draws fresh random ids by default, across refills of its random pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const { traceId, traceparent } = childTraceContext(undefined);
      expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      seen.add(traceId).add(traceparent.slice(36, 52));
    }
    expect(seen.size).toBe(4000); // 2000 × 24 random bytes: many 4 KiB pools, no id repeated
  });
});

describe('forwardHeaders', () => {
  it('drops hop-by-hop headers and those Connection names, keeps case, order and repeats', () => {
    const raw = [
      'Host',
      'h',
      'Connection',
      'keep-alive, X-Hop',
      'X-Hop',
      '1',
      'Set-Cookie',
      'a',
      'Set-Cookie',
      'b',
    ];
    expect(forwardHeaders([...raw, 'Transfer-Encoding', 'chunked'], new Set())).toEqual([
      'Host',
      'h',
      'Set-Cookie',
      'a',
      'Set-Cookie',
      'b',
    ]);
  });

  it('replaces the headers the proxy sets on measured requests, keeping the client’s x-request-id', () => {
    const raw = [
      'X-Request-Id',
      'client',
      'traceparent',
      'old',
      'Authorization',
      'Bearer k',
      'Content-Length',
      '9',
    ];
    expect(forwardHeaders(raw, MEASURED_REQUEST_DROP, { traceparent: 'ours' })).toEqual([
      'X-Request-Id',
      'client',
      'Authorization',
      'Bearer k',
      'traceparent',
      'ours',
    ]);
  });
});
