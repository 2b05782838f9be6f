import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { cliSkipReason, runCli, startSimulatedDaemon, waitForSeals, waitForStderr } from '../helpers/cli.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

// A server the proxy does not front reports its requests through the event API; the daemon
// attributes energy to them and a receipt for one verifies offline.
const skip = cliSkipReason();

describeUnless(skip)('event API → attribution → ledger → receipt', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('records requests reported through the event API', async () => {
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const tokenFile = join(dir, 'tokens');
    await writeFile(tokenFile, 'secret-token-0123456789abcdef\n');
    await chmod(tokenFile, 0o600);
    const config = join(dir, 'config.yaml');
    await writeFile(
      config,
      `events:\n  enabled: true\n  listen: 127.0.0.1:0\n  tokenFile: ${tokenFile}\napi:\n  listen: 127.0.0.1:0\n`,
    );
    const { key, ledger, daemon, done } = await startSimulatedDaemon(dir, ['--config', config]);
    const log = await waitForStderr(daemon, (text) => text.includes('EVENTS_LISTENING'));
    const url = /"code":"EVENTS_LISTENING","url":"([^"]+)"/.exec(log)?.[1] as string;
    const post = (path: string, body: unknown, token = 'secret-token-0123456789abcdef') =>
      fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
    expect(
      (await post('/v1/requests/start', { requestId: 'req-a', engineId: 'default' }, 'wrong')).status,
    ).toBe(401);
    expect(
      (await post('/v1/requests/start', { requestId: 'req-a', engineId: 'default', model: 'llama' })).status,
    ).toBe(202);
    await waitForSeals(daemon, { count: 2 }); // the request runs across measured intervals
    expect((await post('/v1/requests/req-a/progress', { outputTokens: 10 })).status).toBe(202);
    await waitForSeals(daemon, { count: 1 });
    const end = await post('/v1/requests/req-a/end', {
      outcome: 'ok',
      usage: { inputTokens: 100, outputTokens: 20 },
    });
    expect(end.status).toBe(202);
    await waitForSeals(daemon, { records: 1 }); // its record is sealed
    daemon.kill('SIGTERM');
    const result = await done;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);

    expect((await runCli(['verify', ledger, '--key', `${key}.pub`])).code).toBe(0);
    const receipt = join(dir, 'r.json');
    expect((await runCli(['receipt', 'req-a', '--ledger-dir', ledger, '--out', receipt])).code).toBe(0);
    const checked = await runCli(['verify-receipt', receipt, '--key', `${key}.pub`, '--json']);
    expect(checked.code, checked.stdout).toBe(0);
    const report = JSON.parse(checked.stdout);
    expect(report.record).toMatchObject({
      requestId: 'req-a',
      inputTokens: 100,
      outputTokens: 20,
      source: 'event-api',
    });
    expect(BigInt(report.record.activeEnergyMicroJoules)).toBeGreaterThan(0n);
  });
});
