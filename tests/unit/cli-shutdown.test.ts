import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { EXIT_USAGE, exitCodeOf } from '../../src/cli/exit-codes.js';
import { EXIT_FORCED, installShutdown } from '../../src/cli/shutdown.js';

describe('shutdown on signals', () => {
  it('stops on the first signal, hurries on the second, and only exits on the third', () => {
    const source = new EventEmitter();
    const said: string[] = [];
    const exits: number[] = [];
    const { signal, hurry } = installShutdown(
      source,
      (line) => said.push(line),
      (code) => exits.push(code),
    );
    source.emit('SIGTERM');
    expect([signal.aborted, hurry.aborted, exits]).toEqual([true, false, []]);
    source.emit('SIGINT');
    expect([hurry.aborted, exits]).toEqual([true, []]);
    expect(said[1]).toMatch(/^SIGINT received again: .*the last batch is still written/);
    source.emit('SIGTERM');
    expect(exits).toEqual([EXIT_FORCED]);
    expect(said).toHaveLength(3);
  });
});

describe('exit codes', () => {
  it.each([
    ['CLI_USAGE', 2],
    ['CONFIG_INVALID', 2],
    ['KEY_NOT_FOUND', 2],
    ['EVENTS_TOKENS_NOT_FOUND', 2],
    ['EVENTS_TOKENS_INSECURE_PERMISSIONS', 2],
    ['LEDGER_IO', 2],
    ['LEDGER_LOCKED', 2],
    ['LEDGER_CORRUPT', 2],
    ['EXPORT_LISTEN_FAILED', 2],
    ['ATTEST_KEY_INVALID', 2],
    ['REPORT_BAD_TIME', 2],
    ['CLI_NO_DEVICES', 1],
    ['PROBE_NO_DEVICES', 1],
    ['VERIFY_SIGNATURE_INVALID', 1],
    ['RECEIPT_NOT_FOUND', 1],
    ['ATTRIBUTION_CONSERVATION_VIOLATED', 1],
  ])('%s exits %i', (code, exit) => {
    expect(exitCodeOf(code)).toBe(exit);
    if (exit === 2) expect(exitCodeOf(code)).toBe(EXIT_USAGE);
  });
});
