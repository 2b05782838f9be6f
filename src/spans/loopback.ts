import { isIP } from 'node:net';

/**
 * True for hosts that only this machine can reach: `localhost`, 127.0.0.0/8 and `::1`. Span
 * intake without a token may only listen on one of these.
 */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}
