import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { cliSkipReason, parseLogLines, runCli, startSimulatedDaemon, waitForStderr } from '../helpers/cli.js';
import { ledgerLines } from '../helpers/ledger-fixture.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { predicatesOf, windowContractViolations } from '../helpers/window-contract.js';

// Issue 12: an honest simulated daemon that ran for 20 s and is restarted, cleanly (SIGTERM) and
// not (SIGKILL), with 300 ms batches, must pass its own `verify` with zero findings, and every
// batch must keep the device-window contract: nothing covers more than its window, no energy above
// the power limit over it, the first batch after each restart carrying the downtime.
const skip = cliSkipReason();
const sealedCount = (text: string): number => (text.match(/LEDGER_SEALED/g) ?? []).length;

describeUnless(skip)('an honest simulated ledger across restarts', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  /** Runs the daemon until it has run `forMs` and sealed `batches`, then sends `signal`. */
  async function run(
    dir: string,
    key: string | undefined,
    forMs: number,
    batches: number,
    signal: NodeJS.Signals,
  ): Promise<string> {
    const started = Date.now();
    const { key: usedKey, daemon, done } = await startSimulatedDaemon(dir, [], {}, key);
    await waitForStderr(
      daemon,
      (text) => sealedCount(text) >= batches && Date.now() - started >= forMs,
      forMs + 20_000,
    );
    daemon.kill(signal);
    const result = await done;
    if (signal === 'SIGTERM') expect(result.code, result.stderr).toBe(0);
    else expect(result.signal).toBe('SIGKILL');
    return usedKey;
  }

  it('verifies with zero findings after a SIGTERM and a SIGKILL restart', async () => {
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const key = await run(dir, undefined, 20_000, 40, 'SIGTERM');
    await run(dir, key, 3_000, 5, 'SIGKILL');
    await run(dir, key, 2_000, 3, 'SIGTERM');
    const ledger = `${dir}/ledger`;

    const verified = await runCli(['verify', ledger, '--key', `${key}.pub`, '--json']);
    const report = JSON.parse(verified.stdout);
    expect(report.findings, verified.stdout).toEqual([]);
    expect(verified.code).toBe(0);
    expect(report.ok).toBe(true);

    const lines = await ledgerLines(ledger);
    expect(windowContractViolations(lines)).toEqual([]);
    const predicates = predicatesOf(lines);
    const restarts = predicates.filter((p) => p.window.downtimeNanos !== '0');
    expect(restarts).toHaveLength(2);
    for (const first of restarts) {
      for (const device of first.devices) {
        // The simulated counter kept counting while the agent was down: measured and declared.
        expect(device.gaps[0]).toMatchObject({ reason: 'agent-downtime', bridged: true });
        expect(BigInt(device.downtimeEnergyMicroJoules)).toBeGreaterThan(0n);
        expect(device.discontinuities).toEqual([]);
      }
    }
    // Every batch of a ticking simulated GPU covers time, except possibly the last one of a run
    // sealed at stop after its final tick: that one says it measured nothing, and why.
    for (const p of predicates) {
      for (const d of p.devices) {
        if (d.unmeasuredReason !== null) {
          expect(d.unmeasuredReason).toBe('no-reading');
          expect(d.energyMicroJoules).toBe('0');
        }
      }
    }
  }, 120_000);

  it('declares a GPU the configuration loses and a counter it resets, and still verifies', async () => {
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const config = join(dir, 'config.yaml');
    await writeFile(
      config,
      [
        'probes:',
        '  simulated:',
        '    faults:',
        '      - { kind: lose, gpu: 0, atMs: 3000, forMs: 1500 }',
        '      - { kind: reset, gpu: 1, atMs: 3200 }',
        '',
      ].join('\n'),
    );
    const { key, ledger, daemon, done } = await startSimulatedDaemon(dir, ['--config', config]);
    // Until the lost GPU is read again, and two more batches are sealed after that. The loss
    // starts 3 s after the probe opens, so the meter has read the GPU before it, even on a busy host.
    const log = await waitForStderr(
      daemon,
      (text) => {
        const at = text.indexOf('"code":"METER_RECOVERED"');
        return at >= 0 && sealedCount(text.slice(at)) >= 2;
      },
      20_000,
    );
    daemon.kill('SIGTERM');
    expect((await done).code).toBe(0);
    const verified = await runCli(['verify', ledger, '--key', `${key}.pub`]);
    expect(verified.code, verified.stdout).toBe(0);
    expect(verified.stdout).toMatch(
      /unmeasured {3}GPU-5140a7ed-0000-4000-8000-000000000001: \d+ batch(es)? .*device-lost/,
    );
    const lines = await ledgerLines(ledger);
    expect(windowContractViolations(lines)).toEqual([]);
    const predicates = predicatesOf(lines);
    const gpu = (id: string) => predicates.flatMap((p) => p.devices.filter((d) => d.deviceId.endsWith(id)));
    expect(gpu('001').some((d) => d.unmeasuredReason === 'device-lost')).toBe(true);
    // The 1.5 s loss spans several 300 ms batches: the counter's advance across it is not counted.
    expect(gpu('001').flatMap((d) => d.discontinuities.map((j) => j.reason))).toEqual(['unbridged-gap']);
    expect(gpu('002').flatMap((d) => d.discontinuities.map((j) => j.reason))).toEqual(['counter-reset']);
    const events = parseLogLines(log);
    expect(events.some((e) => e.code === 'PROBE_DEVICE_LOST' && String(e.deviceId).endsWith('001'))).toBe(
      true,
    );
  }, 60_000);
});
