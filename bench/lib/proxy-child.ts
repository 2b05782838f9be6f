import type { AddressInfo } from 'node:net';
import { systemClock } from '../../src/clock.js';
import { createMeasuringProxy } from '../../src/proxy/proxy.js';
import type { RequestEvent } from '../../src/requests/types.js';

/**
 * Child process of the `proxy` bench group: wattledger's measuring proxy in front of UPSTREAM_URL,
 * alone in its process so that its CPU time can be read from /proc. The sink is real but does
 * nothing beyond counting events by type. IPC: sends `{ type: 'ready', port }`; answers
 * `{ type: 'stats' }` with the counters; `{ type: 'exit' }` closes it and exits normally (so that
 * `--cpu-prof` writes its profile).
 *
 * argv: UPSTREAM_URL
 */

const upstreamUrl = process.argv[2];
if (upstreamUrl === undefined) throw new Error('usage: proxy-child.js UPSTREAM_URL');

const events = { start: 0, progress: 0, end: 0, endOk: 0 };
const sink = (event: RequestEvent): void => {
  events[event.type] += 1;
  if (event.type === 'end' && event.outcome === 'ok') events.endOk += 1;
};

const proxy = createMeasuringProxy({
  upstreams: [{ name: 'bench', url: upstreamUrl, engineId: 'engine-bench', models: ['bench-model'] }],
  defaultUpstream: 'bench',
  sink,
  clock: systemClock,
  maxBodyBytes: 1024 * 1024,
  upstreamTimeoutMs: 30_000,
});
proxy.server.keepAliveTimeout = 300_000;
proxy.server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (proxy.server.address() as AddressInfo).port });
});

process.on('message', (message: { type?: string }) => {
  if (message.type === 'stats') process.send?.({ type: 'stats', events, stats: proxy.stats() });
  if (message.type === 'exit') {
    proxy.server.closeAllConnections();
    void proxy.close().finally(() => process.exit(0));
  }
});
