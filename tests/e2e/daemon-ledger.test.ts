import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { cliSkipReason, runCli, startSimulatedDaemon, waitForStderr } from '../helpers/cli.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

// The whole path as an operator and a researcher would run it: keygen, the daemon on simulated
// GPUs, SIGTERM, then verification with only the public key.
const skip = cliSkipReason();

describeUnless(skip)('a ledger written by the running daemon', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  /** Runs the daemon until it has sealed `batches` batches, then stops it with SIGTERM. */
  async function runUntilSealed(
    dir: string,
    batches: number,
    key?: string,
  ): Promise<{ key: string; ledger: string; log: string }> {
    const { key: usedKey, ledger, daemon, done } = await startSimulatedDaemon(dir, [], {}, key);
    const log = await waitForStderr(daemon, (text) => (text.match(/LEDGER_SEALED/g) ?? []).length >= batches);
    daemon.kill('SIGTERM');
    const result = await done;
    expect(result.code, result.stderr).toBe(0);
    return { key: usedKey, ledger, log };
  }

  async function daemonLedger(): Promise<{ dir: string; key: string; ledger: string }> {
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const { key, ledger } = await runUntilSealed(dir, 4);
    expect((await stat(key)).mode & 0o777).toBe(0o600);
    return { dir, key, ledger };
  }

  it('verifies with only the public key, and a flipped byte on disk fails verification', async () => {
    const { key, ledger } = await daemonLedger();
    const ok = await runCli(['verify', ledger, '--key', `${key}.pub`, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const report = JSON.parse(ok.stdout);
    expect(report).toMatchObject({ ok: true, simulated: true, firstSequence: '0' });
    expect(report.batches).toBeGreaterThanOrEqual(4);
    expect(report.checkpointsVerified).toBeGreaterThanOrEqual(1);

    const segment = join(ledger, (await readdir(ledger)).find((n) => n.startsWith('ledger-')) as string);
    const text = await readFile(segment, 'utf8');
    const at = text.indexOf('"payload":"') + 60;
    await writeFile(segment, text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1));
    const bad = await runCli(['verify', ledger, '--key', `${key}.pub`]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('VERIFY_SIGNATURE_INVALID');
    expect(bad.stdout).toContain('ledger-000001.jsonl:1');
  });

  it('resumes the chain after a restart', async () => {
    const { dir, key, ledger } = await daemonLedger();
    const { log } = await runUntilSealed(dir, 2, key);
    expect(log).toMatch(/continuing at batch [1-9]/);
    const verified = await runCli(['verify', ledger, '--key', `${key}.pub`]);
    expect(verified.code, verified.stdout).toBe(0);
  });

  it('refuses to start with a private key others can read', async () => {
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const key = join(dir, 'k');
    await runCli(['keygen', '--out', key]);
    const { chmod } = await import('node:fs/promises');
    await chmod(key, 0o644);
    const result = await runCli([
      'run',
      '--simulate',
      '--rapl',
      'off',
      '--ledger-dir',
      join(dir, 'l'),
      '--signing-key',
      key,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('KEY_INSECURE_PERMISSIONS');
  });
});
