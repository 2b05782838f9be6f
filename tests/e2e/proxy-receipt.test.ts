import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterEach, expect, it } from 'vitest';
import { cliSkipReason, runCli, startProxiedDaemon, waitForSeals } from '../helpers/cli.js';
import { FakeUpstream, loadFixture } from '../helpers/fake-upstream.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

// The product end to end: a real OpenAI client talks to the daemon's measuring proxy in front of a
// loopback server replaying a recorded OpenAI stream (tests/fixtures/openai-sse, see
// SOURCES.md); the daemon meters simulated GPUs, attributes energy to the requests, seals signed
// batches; then a receipt for one request is cut and verified offline with only the public key.
const skip = cliSkipReason();

describeUnless(skip)('proxy → attribution → ledger → receipt', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('gives every proxied request a record whose receipt verifies offline', async () => {
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const recorded = loadFixture('openai-gpt4o-chat-stream-include-usage.sse');
    const upstream = await FakeUpstream.start(() => ({ ...recorded, split: 64, delayMs: 20 }));
    cleanups.push(() => upstream.close());
    const { key, ledger, daemon, done, proxyUrl, startLog } = await startProxiedDaemon(dir, upstream.url);
    const apiUrl = /"code":"API_LISTENING","url":"([^"]+)"/.exec(startLog)?.[1] as string;
    expect(apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const client = new OpenAI({ apiKey: 'test', baseURL: `${proxyUrl}/v1`, maxRetries: 0 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { data: stream, response } = await client.chat.completions
        .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true })
        .withResponse();
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      expect(text.length).toBeGreaterThan(0);
      ids.push(response.headers.get('x-wattledger-request-id') as string);
    }
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    await waitForSeals(daemon, { count: 2, records: 3 }); // the three records are sealed
    const batches = (await (await fetch(`${apiUrl}/v1/batches?from=0&limit=2`)).json()) as {
      batches: unknown[];
    };
    expect(batches.batches.length).toBe(2);
    expect((await fetch(`${apiUrl}/readyz`)).status).toBe(200);
    daemon.kill('SIGTERM');
    const result = await done;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);

    const verified = await runCli(['verify', ledger, '--key', `${key}.pub`, '--json']);
    expect(verified.code, verified.stdout).toBe(0);

    const receiptFile = join(dir, 'receipt.json');
    const cut = await runCli(['receipt', ids[1] as string, '--ledger-dir', ledger, '--out', receiptFile]);
    expect(cut.code, cut.stderr).toBe(0);
    const checked = await runCli(['verify-receipt', receiptFile, '--key', `${key}.pub`, '--json']);
    expect(checked.code, checked.stdout).toBe(0);
    const report = JSON.parse(checked.stdout);
    expect(report.requestId).toBe(ids[1]);
    expect(report.record).toMatchObject({
      requestId: ids[1],
      inputTokens: 14,
      outputTokens: 30,
      outcome: 'ok',
    });
    expect(BigInt(report.record.activeEnergyMicroJoules)).toBeGreaterThan(0n);
    // Both boundaries are signed: comprehensive = active + idle share + host, × PUE.
    const r = report.record;
    expect(r.comprehensive).toMatchObject({
      boundary: 'comprehensive',
      activeEnergyMicroJoules: r.activeEnergyMicroJoules,
      idleShareMicroJoules: r.idleShareMicroJoules,
      hostEnergyMicroJoules: r.hostEnergyMicroJoules,
    });
    expect(BigInt(r.comprehensive.itEnergyMicroJoules)).toBe(
      BigInt(r.activeEnergyMicroJoules) + BigInt(r.idleShareMicroJoules) + BigInt(r.hostEnergyMicroJoules),
    );
  });

  it('with proxy.inlineEnergy, the stream ends with the energy its signed record carries', async () => {
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const recorded = loadFixture('openai-gpt4o-chat-stream-include-usage.sse');
    const upstream = await FakeUpstream.start(() => ({ ...recorded, split: 64, delayMs: 10 }));
    cleanups.push(() => upstream.close());
    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ proxy: { inlineEnergy: true, inlineEnergyMaxWaitMs: 5000 } }));
    const { key, ledger, daemon, done, proxyUrl } = await startProxiedDaemon(dir, upstream.url, [
      '--config',
      config,
    ]);
    const client = new OpenAI({ apiKey: 'test', baseURL: `${proxyUrl}/v1`, maxRetries: 0 });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true })
      .withResponse();
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const id = response.headers.get('x-wattledger-request-id') as string;
    // The recording ends with a usage chunk whether asked or not (a server that sends usage
    // unasked): the proxy relays it, last, and puts the energy chunk just before it.
    const energyChunk = chunks.at(-2) as unknown as {
      wattledger: Record<string, unknown>;
      choices: unknown[];
    };
    expect(chunks.at(-1)?.usage).toMatchObject({ prompt_tokens: 14, completion_tokens: 30 });
    const inline = energyChunk.wattledger;
    expect(inline).toMatchObject({ status: 'final', requestId: id, receipt: `/v1/receipts/${id}` });
    expect(energyChunk.choices).toEqual([
      { index: 0, delta: { content: '' }, logprobs: null, finish_reason: null },
    ]);
    await waitForSeals(daemon, { records: 1 }); // the record's batch is sealed
    daemon.kill('SIGTERM');
    const result = await done;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);

    const receiptFile = join(dir, 'receipt.json');
    const cut = await runCli(['receipt', id, '--ledger-dir', ledger, '--out', receiptFile]);
    expect(cut.code, cut.stderr).toBe(0);
    const checked = await runCli(['verify-receipt', receiptFile, '--key', `${key}.pub`, '--json']);
    expect(checked.code, checked.stdout).toBe(0);
    const record = JSON.parse(checked.stdout).record;
    // The inline figures are the signed record's.
    expect(inline.estimated).toBe(record.estimated);
    expect(inline.energy).toEqual({
      active: {
        microJoules: record.activeEnergyMicroJoules,
        joules: Number(record.activeEnergyMicroJoules) / 1e6,
      },
      comprehensive: {
        microJoules: record.comprehensive.facilityEnergyMicroJoules,
        joules: Number(record.comprehensive.facilityEnergyMicroJoules) / 1e6,
        pueMilli: record.comprehensive.pueMilli,
      },
    });
  });
});
