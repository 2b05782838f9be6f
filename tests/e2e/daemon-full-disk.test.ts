/**
 * The daemon when its ledger's disk fills up (a real tmpfs filled to ENOSPC) and is freed again:
 * readiness goes false, new event-API requests are refused with 503 and Retry-After while an open
 * one is still accepted, the daemon recovers without a person once space is freed, and every
 * acknowledged request is sealed exactly once in a ledger that verifies.
 */
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import {
  cliSkipReason,
  makeSigningKey,
  parseLogLines,
  runCli,
  startProxiedDaemon,
  startSimulatedDaemon,
  waitForSeals,
  waitForStderr,
} from '../helpers/cli.js';
import { FakeUpstream, loadFixture } from '../helpers/fake-upstream.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { mountSmallDisk, type SmallDisk, tmpfsSkipReason } from '../helpers/tmpfs.js';

const TOKEN = 'secret-token-0123456789abcdef';
const skip = cliSkipReason() ?? tmpfsSkipReason;

describeUnless(skip)('daemon on a full disk', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('refuses new requests while the ledger cannot write, holds the acknowledged ones and seals them once space is back', async () => {
    const { dir, cleanup } = await makeTmpDir('wattledger-e2e-full-');
    cleanups.push(cleanup);
    const disk: SmallDisk = await mountSmallDisk(dir, 2 * 1024 * 1024);
    cleanups.push(() => disk.unmount());
    const tokenFile = join(dir, 'tokens');
    await writeFile(tokenFile, `${TOKEN}\n`);
    await chmod(tokenFile, 0o600);
    const config = join(dir, 'config.yaml');
    await writeFile(
      config,
      `events:\n  enabled: true\n  listen: 127.0.0.1:0\n  tokenFile: ${tokenFile}\nledger:\n  dir: ${disk.dir}/ledger\n  checkpointEveryBatches: 2\n`,
    );
    const key = await makeSigningKey(dir);
    const { daemon, done } = await startSimulatedDaemon(
      dir,
      ['--config', config, '--ledger-dir', `${disk.dir}/ledger`],
      {},
      key,
    );
    let log = await waitForStderr(
      daemon,
      (text) => text.includes('EVENTS_LISTENING') && text.includes('API_LISTENING'),
    );
    const events = /"code":"EVENTS_LISTENING","url":"([^"]+)"/.exec(log)?.[1] as string;
    const api = /"code":"API_LISTENING","url":"([^"]+)"/.exec(log)?.[1] as string;
    const post = (path: string, body: unknown) =>
      fetch(`${events}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(body),
      });
    const ready = async () => (await fetch(`${api}/readyz`)).status;
    const logged = (code: string) =>
      waitForStderr(daemon, (text) => text.includes(`"code":"${code}"`), 20_000);

    await expect.poll(ready, { timeout: 10_000 }).toBe(200);
    expect((await post('/v1/requests/start', { requestId: 'held-1', engineId: 'default' })).status).toBe(202);

    const unwritable = logged('LEDGER_UNWRITABLE');
    await disk.fill();
    log = await unwritable;
    expect(await ready()).toBe(503);
    const readiness = (await (await fetch(`${api}/readyz`)).json()) as { detail: Record<string, unknown> };
    expect(readiness.detail).toMatchObject({ ledgerWritable: false });
    const refused = await post('/v1/requests/start', { requestId: 'refused-1', engineId: 'default' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(await refused.json()).toMatchObject({ error: { code: 'EVENTS_UNAVAILABLE' } });
    // The request acknowledged before the fault still ends: it is held, not lost.
    const end = await post('/v1/requests/held-1/end', {
      outcome: 'ok',
      usage: { inputTokens: 7, outputTokens: 3 },
    });
    expect(end.status).toBe(202);

    const writable = logged('LEDGER_WRITABLE');
    await disk.free();
    await writable;
    await expect.poll(ready, { timeout: 10_000 }).toBe(200);
    expect((await post('/v1/requests/start', { requestId: 'after-1', engineId: 'default' })).status).toBe(
      202,
    );
    expect((await post('/v1/requests/after-1/end', { outcome: 'ok' })).status).toBe(202);
    await waitForSeals(daemon, { count: 1, records: 2 }); // held-1 and after-1 are sealed

    daemon.kill('SIGTERM');
    const result = await done;
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    const lines = parseLogLines(result.stderr);
    expect(lines.filter((l) => l.code === 'LEDGER_UNWRITABLE')).toHaveLength(1);
    expect(lines.filter((l) => l.code === 'LEDGER_WRITABLE')).toHaveLength(1);

    const verified = await runCli(['verify', `${disk.dir}/ledger`, '--key', `${key}.pub`]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    const recordsDir = `${disk.dir}/ledger/records`;
    const records = (
      await Promise.all(
        (
          await readdir(recordsDir)
        )
          .filter((n) => n.endsWith('.jsonl'))
          .map((n) => readFile(join(recordsDir, n), 'utf8')),
      )
    )
      .join('')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => (JSON.parse(l) as { record: { requestId: string } }).record.requestId);
    expect(records.filter((id) => id === 'held-1')).toHaveLength(1);
    expect(records.filter((id) => id === 'after-1')).toHaveLength(1);
    expect(records).not.toContain('refused-1');
  }, 60_000);

  it('exits 2 naming the batches it could not write when the disk is still full at SIGTERM; a second SIGTERM shortens the retries', async () => {
    const { dir, cleanup } = await makeTmpDir('wattledger-e2e-full-');
    cleanups.push(cleanup);
    const disk: SmallDisk = await mountSmallDisk(dir, 2 * 1024 * 1024);
    cleanups.push(() => disk.unmount());
    const key = await makeSigningKey(dir);
    const { daemon, done } = await startSimulatedDaemon(dir, ['--ledger-dir', `${disk.dir}/ledger`], {}, key);
    await waitForStderr(daemon, (text) => text.includes('LEDGER_SEALED'));
    const unwritable = waitForStderr(daemon, (text) => text.includes('"code":"LEDGER_UNWRITABLE"'), 20_000);
    await disk.fill();
    await unwritable;
    const started = Date.now();
    daemon.kill('SIGTERM');
    await waitForStderr(daemon, (text) => text.includes('SIGTERM received: stopping'));
    daemon.kill('SIGTERM');
    const result = await done;
    expect(result.code, result.stderr.slice(-3000)).toBe(2);
    expect(Date.now() - started).toBeLessThan(9_000); // the stop's 10 s of retries were cut short
    expect(result.stderr).toMatch(
      /wattledger: LEDGER_IO: the last batch could not be written: batch\(es\) \d+/,
    );
    expect(result.stderr).toContain('received again');
    // What was written before the disk filled still verifies.
    await disk.free();
    const verified = await runCli(['verify', `${disk.dir}/ledger`, '--key', `${key}.pub`]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  }, 60_000);

  it('keeps relaying proxied traffic unmeasured while the ledger cannot write, and says so', async () => {
    const { dir, cleanup } = await makeTmpDir('wattledger-e2e-full-');
    cleanups.push(cleanup);
    const disk: SmallDisk = await mountSmallDisk(dir, 2 * 1024 * 1024);
    cleanups.push(() => disk.unmount());
    const recorded = loadFixture('openai-gpt4o-chat-stream-include-usage.sse');
    const upstream = await FakeUpstream.start(() => ({ ...recorded, split: 64, delayMs: 5 }));
    cleanups.push(() => upstream.close());
    const { daemon, done, proxyUrl } = await startProxiedDaemon(dir, upstream.url, [
      '--ledger-dir',
      `${disk.dir}/ledger`,
    ]);
    const chat = async () => {
      const response = await fetch(`${proxyUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true }),
      });
      const text = await response.text();
      return { status: response.status, id: response.headers.get('x-wattledger-request-id'), text };
    };
    const unwritable = waitForStderr(daemon, (text) => text.includes('"code":"LEDGER_UNWRITABLE"'), 20_000);
    await disk.fill();
    await unwritable;
    const during = await chat();
    expect(during.status).toBe(200);
    expect(during.text).toContain('data: [DONE]');
    const writable = waitForStderr(daemon, (text) => text.includes('"code":"LEDGER_WRITABLE"'), 20_000);
    await disk.free();
    const back = parseLogLines(await writable).find((l) => l.code === 'LEDGER_WRITABLE');
    expect(back).toMatchObject({ unmeasuredProxied: 1 });
    const after = await chat();
    expect(after.status).toBe(200);
    await waitForSeals(daemon, { count: 1, records: 1 }); // the measured request is sealed
    daemon.kill('SIGTERM');
    const result = await done;
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    const receipt = (id: string | null) =>
      runCli(['receipt', id as string, '--ledger-dir', `${disk.dir}/ledger`]);
    expect((await receipt(during.id)).code).toBe(1); // relayed unmeasured: no record
    expect((await receipt(after.id)).code).toBe(0);
  }, 60_000);
});
