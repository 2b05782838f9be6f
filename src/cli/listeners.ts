import { connectionBudget, type ListenerLimits, openFileLimit } from '../api/http-limits.js';
import { parseListenAddress } from '../api/listen.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { isLoopbackHost } from '../spans/loopback.js';

/** The daemon's HTTP listeners that are on, with the config key of each address. */
function enabledListeners(
  config: Config,
): { name: string; key: string; address: string; fdsPerConnection: number }[] {
  const all = [
    {
      name: 'ledger API',
      key: 'api.listen',
      address: config.api.listen,
      on: config.ledger.enabled && config.api.enabled,
      fds: 1,
    },
    {
      name: 'event API',
      key: 'events.listen',
      address: config.events.listen,
      on: config.events.enabled,
      fds: 1,
    },
    {
      name: 'span intake',
      key: 'spans.listen',
      address: config.spans.listen,
      on: config.spans.enabled,
      fds: 1,
    },
    // Each proxied connection also holds a socket to its upstream.
    { name: 'proxy', key: 'proxy.listen', address: config.proxy.listen, on: config.proxy.enabled, fds: 2 },
    {
      name: 'Prometheus',
      key: 'prometheus.listen',
      address: config.prometheus.listen,
      on: config.prometheus.enabled,
      fds: 1,
    },
  ];
  return all
    .filter((l) => l.on)
    .map(({ name, key, address, fds }) => ({ name, key, address, fdsPerConnection: fds }));
}

/**
 * The limits every listener gets (`http.*`), with the connections per listener lowered, and a
 * `DAEMON_FD_LIMIT` warning, when all listeners at their limit would leave fewer than
 * `http.fdReserve` file descriptors of the process's limit for the ledger and probes.
 */
export function listenerLimits(config: Config, logger: Logger, fileLimit = openFileLimit()): ListenerLimits {
  const listeners = enabledListeners(config);
  const { perListener, lowered } = connectionBudget(
    config.http.maxConnectionsPerListener,
    listeners.map((l) => l.fdsPerConnection),
    config.http.fdReserve,
    fileLimit,
  );
  if (lowered)
    logger.warn(
      {
        code: 'DAEMON_FD_LIMIT',
        openFileLimit: fileLimit,
        fdReserve: config.http.fdReserve,
        wanted: config.http.maxConnectionsPerListener,
        perListener,
      },
      `the open-file limit (${fileLimit}) cannot hold ${config.http.maxConnectionsPerListener} connections on each of ${listeners.length} listeners and keep ${config.http.fdReserve} for the ledger: each listener takes at most ${perListener}; raise LimitNOFILE (ulimit -n) or lower http.maxConnectionsPerListener`,
    );
  return {
    maxConnections: perListener,
    headersTimeoutMs: config.http.headersTimeoutMs,
    requestTimeoutMs: config.http.requestTimeoutMs,
    keepAliveTimeoutMs: config.http.keepAliveTimeoutMs,
  };
}

/**
 * Warns (`DAEMON_LISTENER_EXPOSED`) for every listener bound beyond loopback: anyone who can reach
 * the host can reach it. Deliberate in a container or behind a firewall; never silent.
 */
export function warnExposedListeners(config: Config, logger: Logger): void {
  for (const { name, key, address } of enabledListeners(config)) {
    const { host } = parseListenAddress(address);
    if (isLoopbackHost(host)) continue;
    const every = host === '0.0.0.0' || host === '::' ? ' (every interface)' : '';
    logger.warn(
      { code: 'DAEMON_LISTENER_EXPOSED', listener: name, key, listen: address },
      `the ${name} listens on ${address}${every}, beyond loopback: anyone who can reach this host can reach it; bind ${key} to 127.0.0.1 unless that is what you want`,
    );
  }
}
