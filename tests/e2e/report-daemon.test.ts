/**
 * The report of a real daemon run: an OpenAI client sends requests for two models through the
 * measuring proxy to a loopback server replaying a recorded stream (tests/fixtures/openai-sse,
 * see SOURCES.md); the daemon on simulated GPUs attributes and seals them; `wattledger report
 * --key` then verifies the ledger and summarises exactly the records it sealed.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterEach, expect, it } from 'vitest';
import type { Report } from '../../src/report/report-types.js';
import { cliSkipReason, runCli, startProxiedDaemon, waitForSeals } from '../helpers/cli.js';
import { FakeUpstream, loadFixture } from '../helpers/fake-upstream.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const skip = cliSkipReason();

describeUnless(skip)('daemon → ledger → report', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('reports, verified, the per-model energy of the requests the daemon sealed', async () => {
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const recorded = loadFixture('openai-gpt4o-chat-stream-include-usage.sse');
    const upstream = await FakeUpstream.start(() => ({ ...recorded, split: 64, delayMs: 20 }));
    cleanups.push(() => upstream.close());
    const { key, ledger, daemon, done, proxyUrl } = await startProxiedDaemon(dir, upstream.url);
    const client = new OpenAI({ apiKey: 'test', baseURL: `${proxyUrl}/v1`, maxRetries: 0 });
    for (const model of ['big-model', 'small-model', 'small-model']) {
      const stream = await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
      });
      for await (const _chunk of stream);
    }
    await waitForSeals(daemon, { records: 3 });
    daemon.kill('SIGTERM');
    const stopped = await done;
    expect(stopped.code, stopped.stderr.slice(-2000)).toBe(0);

    const result = await runCli(['report', '--ledger-dir', ledger, '--key', `${key}.pub`, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.verification.status).toBe('verified');
    expect(report.ledger.simulated).toBe(true);

    // The records as stored, read here without the report's code.
    const lines = (await readFile(join(ledger, 'records', 'ledger-000001.jsonl'), 'utf8')).split('\n');
    const records = lines.filter((l) => l !== '').map((l) => JSON.parse(l).record as Record<string, string>);
    expect(records.length).toBe(3);
    expect(report.models.map((m) => [m.model, m.requests])).toEqual([
      ['big-model', 1],
      ['small-model', 2],
    ]);
    for (const stats of report.models) {
      const mine = records.filter((r) => r.model === stats.model);
      const active = mine.reduce((a, r) => a + BigInt(r.activeEnergyMicroJoules!), 0n);
      expect(stats.active.energyMicroJoules).toBe(active.toString());
      // The recorded stream's usage: 14 input and 30 output tokens per request.
      expect(stats.tokens).toMatchObject({
        inputTokens: String(14 * mine.length),
        outputTokens: String(30 * mine.length),
      });
      const carrying = mine.filter((r) => r.comprehensive !== null);
      const facility = carrying.reduce(
        (a, r) =>
          a + BigInt((r.comprehensive as unknown as Record<string, string>).facilityEnergyMicroJoules!),
        0n,
      );
      // The daemon signs both boundaries in every record.
      expect(carrying.length).toBe(mine.length);
      expect(stats.comprehensive).toMatchObject({
        requests: carrying.length,
        energyMicroJoules: facility.toString(),
      });
    }

    const text = await runCli(['report', '--ledger-dir', ledger, '--key', `${key}.pub`]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('integrity  VERIFIED');
    expect(text.stdout).toContain('MODEL small-model on engine default: 2 requests');
  });
});
