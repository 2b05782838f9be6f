/**
 * The real event API server on 127.0.0.1:0 with a recording sink (an array: a real
 * `RequestEventSink`), a manual clock and one token.
 */

import {
  createEventApiServer,
  type EventApiServer,
  type EventApiServerOptions,
} from '../../../src/events/server.js';
import type { RequestEvent } from '../../../src/requests/types.js';
import { ManualClock } from '../../helpers/manual-clock.js';

export const TOKEN = 'test-token-0123456789abcdef';
export const ENGINES = ['vllm-a', 'sglang-b'] as const;

/** A started server and what the tests look at. */
export interface EventFixture {
  readonly server: EventApiServer;
  readonly clock: ManualClock;
  /** Every event the sink received, in order. */
  readonly events: RequestEvent[];
  /** POSTs JSON with the token (or `token: null` for none, or another). */
  post(
    path: string,
    body: unknown,
    init?: { token?: string | null; headers?: Record<string, string> },
  ): Promise<Response>;
}

/** Starts a server; `sink` replaces the recording one's behaviour (it still records first). */
export async function startEvents(
  overrides: Partial<Omit<EventApiServerOptions, 'sink' | 'clock'>> & {
    sink?: (event: RequestEvent) => void;
  } = {},
): Promise<EventFixture> {
  const clock = new ManualClock();
  const events: RequestEvent[] = [];
  const { sink: extra, ...rest } = overrides;
  const server = await createEventApiServer({
    sink: (event) => {
      events.push(event);
      extra?.(event);
    },
    clock,
    tokens: [TOKEN],
    engines: ENGINES,
    listen: { host: '127.0.0.1', port: 0 },
    maxInFlight: 100,
    maxBodyBytes: 64 * 1024,
    ...rest,
  });
  const post: EventFixture['post'] = (path, body, init = {}) => {
    const token = init.token === undefined ? TOKEN : init.token;
    const headers: Record<string, string> = { 'content-type': 'application/json', ...init.headers };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    return fetch(`${server.url}${path}`, {
      method: 'POST',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  };
  return { server, clock, events, post };
}

/** Status and JSON body of a response. */
export async function answer(response: Response): Promise<{ status: number; body: unknown }> {
  return { status: response.status, body: await response.json() };
}

/** The `{error}` of a failed response with its status. */
export async function errorOf(response: Response): Promise<{
  status: number;
  code: string;
  message: string;
  problems?: { path: string; message: string }[];
}> {
  const body = (await response.json()) as { error: { code: string; message: string } };
  return { status: response.status, ...body.error };
}

/** RFC 3339 text of the clock's wall time minus `agoMillis`. */
export function isoAgo(clock: ManualClock, agoMillis: number): string {
  return new Date(Number(clock.wallUnixNanos() / 1_000_000n) - agoMillis).toISOString();
}
