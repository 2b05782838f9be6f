/**
 * The `api` config section: defaults, `WATTLEDGER_API_LISTEN`, refused addresses, and the
 * host/port split the daemon hands to `createApiServer`.
 */
import { describe, expect, it } from 'vitest';
import { parseListenAddress } from '../../../src/api/listen.js';
import { loadConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/errors.js';

describe('config api section', () => {
  it('defaults to enabled on loopback port 9464 with pages of at most 1000', async () => {
    const { config } = await loadConfig({ env: {} });
    expect(config.api).toEqual({ enabled: true, listen: '127.0.0.1:9464', maxPageSize: 1000 });
    expect(parseListenAddress(config.api.listen)).toEqual({ host: '127.0.0.1', port: 9464 });
  });

  it('takes the listen address from WATTLEDGER_API_LISTEN, IPv6 in brackets', async () => {
    const { config } = await loadConfig({ env: { WATTLEDGER_API_LISTEN: '[::1]:0' } });
    expect(parseListenAddress(config.api.listen)).toEqual({ host: '::1', port: 0 });
    expect(parseListenAddress('localhost:8080')).toEqual({ host: 'localhost', port: 8080 });
  });

  it('refuses addresses without a port, with a port past 65535, or with junk, naming the key', async () => {
    for (const listen of ['127.0.0.1', '127.0.0.1:65536', ':9464', '::1:9464', 'a b:1', '127.0.0.1:09464']) {
      const error = await loadConfig({ env: {}, flags: { api: { listen } } }).catch((e: unknown) => e);
      expect(error, listen).toBeInstanceOf(ConfigError);
      expect(
        (error as ConfigError).problems.map((p) => p.path),
        listen,
      ).toEqual(['api.listen']);
      expect((error as ConfigError).problems[0]?.expected, listen).toContain('host:port');
      expect(() => parseListenAddress(listen), listen).toThrow(RangeError);
    }
    const error = await loadConfig({ env: {}, flags: { api: { maxPageSize: 0 } } }).catch((e: unknown) => e);
    expect((error as ConfigError).problems.map((p) => p.path)).toEqual(['api.maxPageSize']);
  });
});
