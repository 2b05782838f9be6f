/**
 * One error contract across commands: exit 0 success, 1 the job's own failure, 2 usage,
 * configuration, key or I/O; errors printed as `wattledger: CODE: message` with a hint.
 * And the stop on SIGTERM: open requests are sealed as cancelled and logged, a second signal
 * still writes the last batch.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import {
  cliSkipReason,
  makeSigningKey,
  parseLogLines,
  runCli,
  startSimulatedDaemon,
  waitForStderr,
} from '../helpers/cli.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const skip = cliSkipReason();
const TOKEN = 'secret-token-0123456789abcdef';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});
async function tmp(): Promise<string> {
  const { dir, cleanup } = await makeTmpDir('wattledger-contract-');
  cleanups.push(cleanup);
  return dir;
}
const SIM = ['--simulate', '--rapl', 'off'];

describeUnless(skip)('exit codes and error messages', () => {
  it.each([[['witness', '--help']], [['help', 'witness']], [['witness']]])(
    'refuses the unknown command in %j with exit 2, not the main help',
    async (args) => {
      const result = await runCli(args);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain("wattledger: CLI_USAGE: unknown command 'witness'");
    },
  );

  it('refuses an unknown option and a stray argument with exit 2 in the usual shape', async () => {
    const option = await runCli(['run', '--bogus']);
    expect([option.code, option.stderr]).toEqual([
      2,
      expect.stringContaining("wattledger: CLI_USAGE: unknown option '--bogus'"),
    ]);
    const extra = await runCli(['keygen', '--out', '/nonexistent/k', 'extra']);
    expect(extra.code).toBe(2);
  });

  it('refuses --no-ledger with --proxy instead of starting no proxy (exit 2)', async () => {
    const result = await runCli([
      'run',
      ...SIM,
      '--no-ledger',
      '--proxy',
      '--upstream',
      'http://127.0.0.1:9',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('CONFIG_INVALID: ledger.enabled is false (--no-ledger)');
    expect(result.stderr).toContain('drop --proxy or the --no-ledger');
  });

  it('exits 2 for a missing event-API token file (EVENTS_TOKENS_*)', async () => {
    const dir = await tmp();
    const config = join(dir, 'c.yaml');
    await writeFile(config, `events:\n  enabled: true\n  listen: 127.0.0.1:0\n  tokenFile: ${dir}/absent\n`);
    const key = await makeSigningKey(dir);
    const result = await runCli([
      'run',
      ...SIM,
      '-c',
      config,
      '--ledger-dir',
      `${dir}/l`,
      '--signing-key',
      key,
      '--api-listen',
      '127.0.0.1:0',
    ]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/wattledger: EVENTS_TOKENS_[A-Z_]+: /);
  });

  it('exits 2 for a corrupt ledger (LEDGER_CORRUPT)', async () => {
    const dir = await tmp();
    const ledger = join(dir, 'l');
    await mkdir(ledger, { recursive: true });
    // Segment 2 without segment 1: a missing segment.
    await writeFile(join(ledger, 'ledger-000002.jsonl'), '{}\n', { mode: 0o600 });
    await chmod(ledger, 0o700);
    const key = await makeSigningKey(dir);
    const result = await runCli([
      'run',
      ...SIM,
      '--ledger-dir',
      ledger,
      '--signing-key',
      key,
      '--api-listen',
      '127.0.0.1:0',
    ]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain('wattledger: LEDGER_CORRUPT: ');
  });

  it('exits 2 when a listener cannot bind (an address in use)', async () => {
    const dir = await tmp();
    const key = await makeSigningKey(dir);
    const first = await startSimulatedDaemon(dir, [], {}, key);
    const log = await waitForStderr(first.daemon, (t) => t.includes('API_LISTENING'));
    const address = /"code":"API_LISTENING","url":"http:\/\/([^"]+)"/.exec(log)?.[1] as string;
    const second = await runCli([
      'run',
      ...SIM,
      '--ledger-dir',
      `${dir}/other`,
      '--signing-key',
      key,
      '--api-listen',
      address,
    ]);
    first.daemon.kill('SIGTERM');
    expect((await first.done).code).toBe(0);
    expect(second.code, second.stderr).toBe(2);
    expect(second.stderr).toMatch(/wattledger: [A-Z_]+: .*cannot listen on/);
  });
});

describeUnless(skip)('stopping on signals', () => {
  async function daemonWithEvents() {
    const dir = await tmp();
    const tokenFile = join(dir, 'tokens');
    await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const config = join(dir, 'c.yaml');
    await writeFile(config, `events:\n  enabled: true\n  listen: 127.0.0.1:0\n  tokenFile: ${tokenFile}\n`);
    const started = await startSimulatedDaemon(dir, ['--config', config]);
    const log = await waitForStderr(started.daemon, (t) => t.includes('EVENTS_LISTENING'));
    const url = /"code":"EVENTS_LISTENING","url":"([^"]+)"/.exec(log)?.[1] as string;
    const post = (path: string, body: unknown) =>
      fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(body),
      });
    return { ...started, dir, post };
  }

  it('seals a request still open at SIGTERM as cancelled, logs it, and a second SIGTERM still writes the last batch', async () => {
    const { daemon, done, post, ledger, key, dir } = await daemonWithEvents();
    expect(
      (await post('/v1/requests/start', { requestId: 'open-at-stop', engineId: 'default' })).status,
    ).toBe(202);
    await waitForStderr(daemon, (t) => t.includes('LEDGER_SEALED'));
    daemon.kill('SIGTERM');
    await waitForStderr(daemon, (t) => t.includes('SIGTERM received: stopping'));
    daemon.kill('SIGTERM'); // do not wait the 10 s drain for the open request
    const result = await done;
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    const stop = parseLogLines(result.stderr).find((l) => l.code === 'EVENTS_OPEN_AT_STOP');
    expect(stop).toMatchObject({ count: 1, requestIds: ['open-at-stop'] });
    expect((await runCli(['verify', ledger, '--key', `${key}.pub`])).code).toBe(0);
    const receipt = join(dir, 'r.json');
    const cut = await runCli(['receipt', 'open-at-stop', '--ledger-dir', ledger, '--out', receipt]);
    expect(cut.code, cut.stderr).toBe(0);
    const checked = await runCli(['verify-receipt', receipt, '--key', `${key}.pub`, '--json']);
    expect(JSON.parse(checked.stdout).record).toMatchObject({
      requestId: 'open-at-stop',
      outcome: 'cancelled',
    });
  }, 40_000);
});
