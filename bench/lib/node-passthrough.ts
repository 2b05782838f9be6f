import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Child process of the `proxy` bench group: the floor of any node:http reverse proxy — a plain
 * pass-through that pipes each request to UPSTREAM_URL and each response back (keep-alive both
 * ways, no parsing, no measurement). Beside wattledger's proxy it shows how much of the proxy's
 * CPU per chunk is Node's HTTP stack and how much is measurement. IPC: sends
 * `{ type: 'ready', port }`; `{ type: 'exit' }` exits.
 *
 * argv: UPSTREAM_URL
 */

const upstreamUrl = process.argv[2];
if (upstreamUrl === undefined) throw new Error('usage: node-passthrough.js UPSTREAM_URL');
const upstream = new URL(upstreamUrl);
const agent = new http.Agent({ keepAlive: true, scheduling: 'lifo' });

const server = http.createServer((req, res) => {
  const headers = { ...req.headers };
  delete headers.connection;
  const request = http.request(
    { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
    (response) => {
      res.writeHead(response.statusCode ?? 502, response.headers);
      res.flushHeaders();
      response.pipe(res);
    },
  );
  request.setNoDelay(true);
  request.on('error', () => res.destroy());
  req.pipe(request);
});
server.keepAliveTimeout = 300_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port });
});
process.on('message', (message: { type?: string }) => {
  if (message.type === 'exit') process.exit(0);
});
