/**
 * The `api.listen` address: `host:port` with an IPv4 address or host name, or a bracketed IPv6
 * address, and a decimal port 0–65535 without leading zeros. A leaf module (no imports), so the
 * config schema validates with the same rule the server's caller parses with.
 */
const LISTEN_ADDRESS = /^(?:([A-Za-z0-9.-]{1,253})|\[([0-9A-Fa-f:.]{2,45})\]):(0|[1-9][0-9]{0,4})$/;

/** True when `value` is a listen address {@link parseListenAddress} accepts. */
export function isListenAddress(value: string): boolean {
  const match = LISTEN_ADDRESS.exec(value);
  return match !== null && Number(match[3]) <= 65_535;
}

/**
 * Splits a listen address (`127.0.0.1:9464`, `localhost:0`, `[::1]:9464`) into the host and port
 * that `createApiServer` takes; an IPv6 host loses its brackets. Throws a `RangeError` for
 * anything else (the config schema has refused it already).
 */
export function parseListenAddress(value: string): { host: string; port: number } {
  const match = LISTEN_ADDRESS.exec(value);
  if (match === null || !isListenAddress(value))
    throw new RangeError(`not a host:port listen address: ${JSON.stringify(value)}`);
  return { host: match[1] ?? match[2]!, port: Number(match[3]) };
}

/** `http://host:port` of a listener: an IPv6 host in brackets (`http://[::1]:9464`). */
export function httpUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
