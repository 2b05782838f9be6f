import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CheckpointSummary, formatJoules } from '../../src/cli/checkpoint-summary.js';
import { warnExposedListeners } from '../../src/cli/listeners.js';
import { configSchema } from '../../src/config/schema.js';
import { logFormatFor, textLine } from '../../src/log.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, sink) };
}

const sealed = (sequence: bigint, records: number, energy: bigint, checkpoint: string | null) => ({
  sequence,
  line: '',
  payloadSha256: '',
  recordCount: records,
  energyMicroJoules: energy,
  checkpoint,
});

describe('operator output', () => {
  it('writes one summary per checkpoint with batches, requests, energy, gaps and export state', async () => {
    const { lines, logger } = capture();
    const summary = new CheckpointSummary(logger, true);
    summary.onSealed(sealed(0n, 2, 1_500_000_000n, null));
    summary.onTick({ intervals: [{ gap: { reason: 'probe-timeout' } }, { gap: null }] } as never);
    summary.onExport('export-failed');
    summary.onSealed(sealed(1n, 3, 600_000_000n, 'wattledger/x\n2\nroot=\n'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      code: 'DAEMON_CHECKPOINT',
      batches: 2,
      requests: 5,
      gaps: 1,
      export: 'failing',
    });
    expect(lines[0]?.msg).toBe(
      'checkpoint at batch 1 (log size 2): 2 batches, 5 requests, 2.10 kJ, 1 gap, export failing',
    );
    expect(formatJoules(12n)).toBe('0.0 J');
  });

  it('prints records as text lines on a terminal and JSON otherwise, WATTLEDGER_LOG_FORMAT deciding when set', () => {
    expect(logFormatFor({}, true)).toBe('text');
    expect(logFormatFor({}, false)).toBe('json');
    expect(logFormatFor({ WATTLEDGER_LOG_FORMAT: 'json' }, true)).toBe('json');
    expect(textLine('{"level":"warn","time":"2026-12-08T01:50:23.000Z","code":"X_Y","msg":"hello"}')).toBe(
      '01:50:23 WARN  hello  [X_Y]',
    );
  });

  it('warns about every listener bound beyond loopback, and none on loopback', async () => {
    const { lines, logger } = capture();
    const config = configSchema.parse({
      api: { listen: '0.0.0.0:9464' },
      events: { enabled: true, listen: '127.0.0.1:9465' },
      proxy: { enabled: true, listen: '[::]:8080' },
    });
    warnExposedListeners(config, logger);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((l) => [l.code, l.key])).toEqual([
      ['DAEMON_LISTENER_EXPOSED', 'api.listen'],
      ['DAEMON_LISTENER_EXPOSED', 'proxy.listen'],
    ]);
    expect(lines[0]?.msg).toContain('listens on 0.0.0.0:9464 (every interface), beyond loopback');
  });
});
