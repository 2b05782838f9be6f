import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createMeasuringProxy,
  type MeasuringProxy,
  type MeasuringProxyOptions,
} from '../../../src/proxy/proxy.js';
import type { RequestEndEvent, RequestEvent, RequestStartEvent } from '../../../src/requests/types.js';
import { type FakeUpstream, loadFixture, type Reply } from '../../helpers/fake-upstream.js';
import { ManualClock } from '../../helpers/manual-clock.js';

/** A proxy on 127.0.0.1 in front of fake upstreams, with the events it emitted. */
export interface ProxyHarness {
  readonly proxy: MeasuringProxy;
  readonly url: string;
  readonly events: RequestEvent[];
  /** Events of one request, in order. */
  of(requestId: string): RequestEvent[];
  /** Waits (bounded) until request `requestId` has its `end` event, and returns it. */
  endOf(requestId: string): Promise<RequestEndEvent>;
  close(): Promise<void>;
}

/** Starts a proxy whose default upstream `a` (engine `engine-a`) is `fake`. */
export async function startProxy(
  fake: FakeUpstream,
  overrides: Partial<MeasuringProxyOptions> = {},
): Promise<ProxyHarness> {
  const events: RequestEvent[] = [];
  let counter = 0;
  const proxy = createMeasuringProxy({
    // The fakes replay recordings of servers that stream usage only when asked; the learning of a
    // server that sends it unasked is tested on its own (failures.test.ts).
    upstreams: [
      { name: 'a', url: fake.url, engineId: 'engine-a', models: ['gpt-4o'], sendsUsageUnasked: false },
    ],
    defaultUpstream: 'a',
    sink: (event) => events.push(event),
    clock: new ManualClock(),
    idGenerator: () => `req-${++counter}`,
    maxBodyBytes: 1024 * 1024,
    upstreamTimeoutMs: 5_000,
    ...overrides,
  });
  await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;
  const of = (id: string) => events.filter((event) => event.requestId === id);
  return {
    proxy,
    url,
    events,
    of,
    async endOf(id) {
      for (let waited = 0; waited < 5_000; waited += 5) {
        const end = of(id).find((event): event is RequestEndEvent => event.type === 'end');
        if (end !== undefined) return end;
        await sleep(5);
      }
      throw new Error(`no end event for ${id}`);
    },
    async close() {
      proxy.server.closeAllConnections();
      await proxy.close();
    },
  };
}

/** The `start` event of a request. */
export function startOf(events: RequestEvent[]): RequestStartEvent {
  return events.find((event): event is RequestStartEvent => event.type === 'start')!;
}

/** POSTs JSON through the proxy with fetch; returns status, headers and the raw body bytes. */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    bytes: Buffer.from(await response.arrayBuffer()),
  };
}

/** A reply that replays fixture `file` with the given chunking. */
export function replay(file: string, extra: Partial<Reply> = {}): Reply {
  const recorded = loadFixture(file);
  return { status: recorded.status, headers: recorded.headers, body: recorded.body, ...extra };
}

/**
 * The fixture body without its include_usage event (`choices: []` + usage), cut by plain text
 * matching, independently of the proxy's parser.
 */
export function withoutUsageChunk(body: Buffer): Buffer {
  const frames = body.toString('utf8').split(/(?<=\n\n)/);
  return Buffer.from(
    frames.filter((frame) => !/^data: ?\{.*"choices":\s*\[\].*"usage":\s*\{/.test(frame)).join(''),
  );
}
