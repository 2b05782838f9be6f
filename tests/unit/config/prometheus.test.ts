import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';

describe('the prometheus configuration section', () => {
  it('is off by default, on loopback, at /metrics, and not on the API port', () => {
    const { prometheus, api } = configSchema.parse({});
    expect(prometheus).toEqual({ enabled: false, listen: '127.0.0.1:9466', path: '/metrics' });
    expect(prometheus.listen).not.toBe(api.listen);
  });

  it.each(['[::1]:9466', '0.0.0.0:0', 'localhost:9466'])('accepts the listen address %s', (listen) => {
    expect(configSchema.parse({ prometheus: { listen } }).prometheus.listen).toBe(listen);
  });

  it.each(['127.0.0.1', '127.0.0.1:65536', 'http://127.0.0.1:9466', ':9466', '::1:9466'])(
    'refuses the listen address %s',
    (listen) => {
      const result = configSchema.safeParse({ prometheus: { listen } });
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]?.path).toEqual(['prometheus', 'listen']);
    },
  );

  it.each(['metrics', '/metrics?x=1', '/a b', ''])('refuses the path %j', (path) => {
    expect(configSchema.safeParse({ prometheus: { path } }).success).toBe(false);
  });
});
