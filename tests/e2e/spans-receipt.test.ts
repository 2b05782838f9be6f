import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import {
  cliSkipReason,
  makeSigningKey,
  runCli,
  startProxiedDaemon,
  startSimulatedDaemon,
  waitForSeals,
  waitForStderr,
} from '../helpers/cli.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import {
  jsonBody,
  makeSpans,
  postSpans,
  protobufBody,
  vllmAttributes,
} from '../integration/spans/spans-fixture.js';

// vLLM-style spans exported to the daemon's span intake (OTLP/HTTP, protobuf + gzip and JSON)
// become ledger records with source otlp; the ledger verifies (energy conserved exactly in every
// batch) and a receipt for one of them verifies offline.
const skip = cliSkipReason();
const MS = 1_000_000n;

describeUnless(skip)('OTLP spans → attribution → ledger → receipt', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('refuses to start without a token off loopback, and with a lag past the max delay', async () => {
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const key = await makeSigningKey(dir);
    for (const [spans, message] of [
      ['listen: 0.0.0.0:0', 'span intake on a non-loopback address needs spans.tokenFile'],
      ['lagMs: 90000', 'spans.lagMs must not exceed attribution.maxDelayMs'],
    ] as const) {
      const config = join(dir, 'config.yaml');
      await writeFile(config, `spans:\n  enabled: true\n  ${spans}\napi:\n  enabled: false\n`);
      const args = [
        'run',
        '--simulate',
        '--rapl',
        'off',
        '--ledger-dir',
        join(dir, 'l'),
        '--signing-key',
        key,
      ];
      const result = await runCli([...args, '--config', config]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(`CONFIG_INVALID: ${message}`);
    }
  });

  it('records requests reported only by their spans', async () => {
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const config = join(dir, 'config.yaml');
    await writeFile(
      config,
      'spans:\n  enabled: true\n  listen: 127.0.0.1:0\n  lagMs: 5000\napi:\n  listen: 127.0.0.1:0\n' +
        'prometheus:\n  enabled: true\n  listen: 127.0.0.1:0\n',
    );
    const { key, ledger, daemon, done } = await startSimulatedDaemon(dir, ['--config', config]);
    const log = await waitForStderr(
      daemon,
      (text) => text.includes('SPANS_LISTENING') && text.includes('PROMETHEUS_LISTENING'),
    );
    const scrapeUrl = /"code":"PROMETHEUS_LISTENING","url":"([^"]+)"/.exec(log)?.[1] as string;
    const url = (/"code":"SPANS_LISTENING","url":"([^"]+)\/v1\/traces"/.exec(log)?.[1] ?? '') as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await waitForSeals(daemon, { count: 5 }); // the span below starts 1.2 s back: measured time
    const now = BigInt(Date.now()) * MS;
    const span = (id: string, traceId: string) =>
      makeSpans([
        {
          traceId,
          startUnixNanos: now - 1200n * MS,
          endUnixNanos: now - 200n * MS,
          attributes: vllmAttributes({
            id,
            prompt: 800,
            completion: 120,
            queueS: 0.05,
            ttftS: 0.25,
            e2eS: 1,
          }),
        },
      ]);
    const protoBody = protobufBody(span('chatcmpl-e2e-1', '5b8efff798038103d269b633813fc60c'));
    const proto = await postSpans(url, protoBody, { gzip: true });
    expect(proto.status).toBe(200);
    // An exporter's retry of the same export changes nothing: its span is a duplicate.
    expect((await postSpans(url, protoBody, { gzip: true })).status).toBe(200);
    const json = await postSpans(url, jsonBody(span('chatcmpl-e2e-2', '6c9f0009a9149214e37ac744924fd71d')), {
      type: 'application/json',
    });
    expect(json.status).toBe(200);
    expect(await json.json()).toEqual({});
    const malformed = await postSpans(url, '{"resourceSpans":', { type: 'application/json' });
    expect(malformed.status).toBe(400);
    // What became of each span, as Prometheus scrapes it (a refused export counts no span).
    const scraped = await (await fetch(scrapeUrl)).text();
    const outcomes: Record<string, number> = Object.fromEntries(
      [
        ...scraped.matchAll(
          /^wattledger_spans_received_total\{[^}]*wattledger_span_outcome="(\w+)"[^}]*\} (\S+)$/gm,
        ),
      ].map((m) => [m[1], Number(m[2])]),
    );
    expect(outcomes).toMatchObject({ request: 2, duplicate: 1, rejected: 0, ignored: 0, joined_open: 0 });
    expect(Object.values(outcomes).reduce((a, b) => a + b, 0)).toBe(3);
    await waitForSeals(daemon, { count: 2 });
    daemon.kill('SIGTERM');
    const result = await done;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);

    expect((await runCli(['verify', ledger, '--key', `${key}.pub`])).code).toBe(0);
    for (const [id, input, output] of [
      ['chatcmpl-e2e-1', 800, 120],
      ['chatcmpl-e2e-2', 800, 120],
    ] as const) {
      const receipt = join(dir, `${id}.json`);
      const cut = await runCli(['receipt', id, '--ledger-dir', ledger, '--out', receipt]);
      expect(cut.code, cut.stderr).toBe(0);
      const checked = await runCli(['verify-receipt', receipt, '--key', `${key}.pub`, '--json']);
      expect(checked.code, checked.stdout).toBe(0);
      const report = JSON.parse(checked.stdout);
      expect(report.record).toMatchObject({
        requestId: id,
        source: 'otlp',
        engineId: 'default',
        operation: 'chat',
        inputTokens: input,
        outputTokens: output,
        durationNanos: String(950n * MS),
        timeToFirstTokenNanos: String(200n * MS),
      });
      expect(BigInt(report.record.activeEnergyMicroJoules)).toBeGreaterThan(0n);
    }
  });

  it('joins a vLLM span to the request the daemon proxied: one record, source proxy', async () => {
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const completion = JSON.stringify({
      id: 'chatcmpl-x',
      object: 'chat.completion',
      created: 1764000000,
      model: 'gpt-4o',
      choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 14, completion_tokens: 30, total_tokens: 44 },
    });
    const upstream = await FakeUpstream.start(() => ({
      headers: [['content-type', 'application/json']],
      body: Buffer.from(completion),
    }));
    cleanups.push(() => upstream.close());
    const config = join(dir, 'config.yaml');
    await writeFile(config, 'spans:\n  enabled: true\n  listen: 127.0.0.1:0\n  lagMs: 5000\n');
    const {
      key,
      ledger,
      daemon,
      done,
      proxyUrl,
      startLog: log,
    } = await startProxiedDaemon(dir, upstream.url, ['--config', config]);
    const url = (/"code":"SPANS_LISTENING","url":"([^"]+)\/v1\/traces"/.exec(log)?.[1] ?? '') as string;
    await waitForSeals(daemon, { count: 2 });
    const t0 = BigInt(Date.now()) * MS;
    const response = await fetch(`${proxyUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    const requestId = response.headers.get('x-wattledger-request-id') as string;
    const sent = upstream.last.headers;
    expect(sent['x-request-id']).toBe(requestId);
    const [, traceId, parentSpanId] = String(sent.traceparent).split('-');
    const spans = makeSpans([
      {
        traceId: traceId as string,
        parentSpanId: parentSpanId as string,
        startUnixNanos: t0,
        endUnixNanos: BigInt(Date.now()) * MS,
        attributes: vllmAttributes({
          id: `chatcmpl-${requestId}`,
          prompt: 14,
          completion: 30,
          queueS: 0,
          ttftS: 0.001,
          e2eS: 0.01,
        }),
      },
    ]);
    expect((await postSpans(url, protobufBody(spans))).status).toBe(200);
    await waitForSeals(daemon, { count: 2 });
    daemon.kill('SIGTERM');
    const result = await done;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    const stats = JSON.parse(
      result.stderr.split('\n').find((line) => line.includes('"SPANS_STATS"')) ?? '{}',
    );
    expect(stats).toMatchObject({ spans: 1, requests: 0, rejected: 0 });
    expect(stats.joinedAfterEnd + stats.joinedEnriched + stats.joinedAfterRecord).toBe(1);

    expect((await runCli(['verify', ledger, '--key', `${key}.pub`])).code).toBe(0);
    const receipt = join(dir, 'r.json');
    expect((await runCli(['receipt', requestId, '--ledger-dir', ledger, '--out', receipt])).code).toBe(0);
    const checked = await runCli(['verify-receipt', receipt, '--key', `${key}.pub`, '--json']);
    expect(JSON.parse(checked.stdout).record).toMatchObject({ requestId, source: 'proxy', traceId });
    // No second record under vLLM's name for the same request.
    const second = await runCli([
      'receipt',
      `chatcmpl-${requestId}`,
      '--ledger-dir',
      ledger,
      '--out',
      join(dir, 's.json'),
    ]);
    expect(second.code).not.toBe(0);
  });
});
