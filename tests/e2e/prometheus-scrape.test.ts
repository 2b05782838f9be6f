import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { cliSkipReason, startSimulatedDaemon, waitForStderr } from '../helpers/cli.js';
import {
  fromMicro,
  type StoredRecord,
  sendEventRequests,
  storedRecords,
  until,
  writeEventConfig,
} from '../helpers/event-requests.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

// A real Prometheus (Debian's 2.42, /usr/bin/prometheus; .ci/run installs it) scrapes the daemon's
// endpoint every second while requests flow through the event API; its HTTP API must then show
// the names, units, labels and values the signed ledger holds.
const PROMETHEUS = '/usr/bin/prometheus';
const skip =
  cliSkipReason() ??
  (existsSync(PROMETHEUS)
    ? undefined
    : `${PROMETHEUS} is missing: apt-get install prometheus (.ci/run does)`);

interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
  /** Range queries: the raw samples, with their scrape timestamps (s). */
  readonly values?: [number, string][];
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Every sealed batch's statement: window end and per-device energy. */
async function batchStatements(ledger: string) {
  const files = (await readdir(ledger)).filter((f) => /^ledger-\d+\.jsonl$/.test(f)).sort();
  const lines = (await Promise.all(files.map((f) => readFile(join(ledger, f), 'utf8')))).flatMap((text) =>
    text.split('\n').filter((line) => line !== ''),
  );
  return lines.map((line) => {
    const envelope = JSON.parse(line) as { payload: string };
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
    return statement.predicate as {
      window: { endUnixNanos: string };
      devices: { deviceId: string; hwType: string; energyMicroJoules: string }[];
    };
  });
}

describeUnless(skip)('Prometheus scraping the daemon', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('shows the ledger’s request energy, CO2e and water, and device energy, under Prometheus names', async () => {
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const config = await writeEventConfig(dir, [
      'prometheus: { enabled: true, listen: "127.0.0.1:0" }',
      'otlp: { genAiProviderName: vllm }',
    ]);
    const { ledger, daemon, done } = await startSimulatedDaemon(dir, ['--config', config]);
    cleanups.push(async () => {
      if (daemon.exitCode === null) daemon.kill('SIGKILL');
      await done;
    });
    const log = await waitForStderr(
      daemon,
      (text) => text.includes('PROMETHEUS_LISTENING') && text.includes('EVENTS_LISTENING'),
    );
    const scrapeUrl = new URL(/"code":"PROMETHEUS_LISTENING","url":"([^"]+)"/.exec(log)?.[1] as string);
    const eventsUrl = /"code":"EVENTS_LISTENING","url":"([^"]+)"/.exec(log)?.[1] as string;
    expect(scrapeUrl.pathname).toBe('/metrics');

    // Prometheus, scraping every second, its TSDB in the temporary directory.
    const promPort = await freePort();
    const promUrl = `http://127.0.0.1:${promPort}`;
    await writeFile(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }',
        'scrape_configs:',
        '  - job_name: wattledger',
        `    metrics_path: ${scrapeUrl.pathname}`,
        `    static_configs: [{ targets: ["${scrapeUrl.host}"] }]`,
        '',
      ].join('\n'),
    );
    const prometheus: ChildProcess = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let promLog = '';
    prometheus.stderr?.on('data', (chunk: Buffer) => (promLog += chunk.toString()));
    const promExited = new Promise((resolve) => prometheus.once('exit', resolve));
    cleanups.push(async () => {
      if (prometheus.exitCode === null) prometheus.kill('SIGTERM');
      await promExited;
    });
    const query = async (promql: string, time?: number): Promise<PromSample[]> => {
      const params = new URLSearchParams({ query: promql, ...(time ? { time: String(time) } : {}) });
      const body = (await (await fetch(`${promUrl}/api/v1/query?${params}`)).json()) as {
        status: string;
        data: { result: PromSample[] };
      };
      if (body.status !== 'success') throw new Error(`query ${promql}: ${JSON.stringify(body)}`);
      return body.data.result;
    };
    await until(
      `the target to be up (prometheus log: ${promLog})`,
      async () => ((await query('up{job="wattledger"}'))[0]?.value[1] === '1' ? true : undefined),
      20_000,
    );

    // Requests through the event API, on two models.
    const requests = ['a', 'b', 'c', 'd'].map((id, i) => ({
      requestId: `req-${id}`,
      model: i % 2 === 0 ? 'llama' : 'qwen',
    }));
    await sendEventRequests(eventsUrl, requests);
    const records = await until('every request sealed into the ledger', async () => {
      const found = await storedRecords(ledger);
      return found.length === requests.length ? found : undefined;
    });

    // A scrape after the last record: every request counted once.
    await until('a scrape with every request', async () => {
      const counts = await query(
        'sum(wattledger_request_energy_joules_count{wattledger_energy_boundary="active"})',
      );
      return counts[0]?.value[1] === String(requests.length) ? true : undefined;
    });

    for (const model of ['llama', 'qwen']) {
      const mine = records.filter((r) => r.model === model);
      expect(mine).toHaveLength(2);
      const selector = (boundary: string, extra = '') =>
        `{job="wattledger",gen_ai_request_model="${model}",wattledger_energy_boundary="${boundary}"${extra}}`;
      const value = async (promql: string) => {
        const result = await query(promql);
        expect(result, promql).toHaveLength(1);
        return Number(result[0]?.value[1]);
      };
      const sum = (pick: (r: StoredRecord) => string | null | undefined) =>
        mine.reduce((total, r) => total + fromMicro(pick(r)), 0);

      // Active energy: Σ records / 1e6, and the count.
      expect(await value(`wattledger_request_energy_joules_count${selector('active')}`)).toBe(2);
      const energy = await value(`wattledger_request_energy_joules_sum${selector('active')}`);
      expect(energy).toBeGreaterThan(0);
      expect(energy).toBeCloseTo(
        sum((r) => r.activeEnergyMicroJoules),
        9,
      );
      // CO2e per basis and water, from the record's active impact.
      const location = selector('active', ',wattledger_co2e_basis="location"');
      expect(await value(`wattledger_request_co2e_grams_count${location}`)).toBe(2);
      expect(await value(`wattledger_request_co2e_grams_sum${location}`)).toBeCloseTo(
        sum((r) => r.activeImpact.co2eLocationMicrograms),
        12,
      );
      const market = selector('active', ',wattledger_co2e_basis="market"');
      expect(await value(`wattledger_request_co2e_grams_sum${market}`)).toBeCloseTo(
        sum((r) => r.activeImpact.co2eMarketMicrograms),
        12,
      );
      expect(await value(`wattledger_request_water_L_count${selector('active')}`)).toBe(2);
      expect(await value(`wattledger_request_water_L_sum${selector('active')}`)).toBeCloseTo(
        sum((r) => r.activeImpact.waterMicroliters),
        12,
      );
      // The comprehensive boundary, where the records carry it.
      if (mine.every((r) => r.comprehensive !== null)) {
        expect(await value(`wattledger_request_energy_joules_sum${selector('comprehensive')}`)).toBeCloseTo(
          sum((r) => r.comprehensive?.facilityEnergyMicroJoules),
          9,
        );
        expect(
          await value(
            `wattledger_request_co2e_grams_sum${selector('comprehensive', ',wattledger_co2e_basis="location"')}`,
          ),
        ).toBeCloseTo(
          sum((r) => r.comprehensive?.co2eLocationMicrograms),
          12,
        );
      }
    }
    // Labels of a request series: low cardinality, no request ids.
    const [series] = await query(
      'wattledger_request_water_L_count{gen_ai_request_model="llama",wattledger_energy_boundary="active"}',
    );
    expect(series?.metric).toEqual({
      __name__: 'wattledger_request_water_L_count',
      job: 'wattledger',
      instance: scrapeUrl.host,
      gen_ai_operation_name: 'other',
      gen_ai_provider_name: 'vllm',
      gen_ai_request_model: 'llama',
      hw_type: 'gpu',
      wattledger_engine_id: 'default',
      wattledger_energy_boundary: 'active',
      wattledger_simulated: 'true',
    });
    const anyRequestId = await query('{job="wattledger",request_id=~".+"}');
    expect(anyRequestId).toEqual([]);
    const metadata = (await (await fetch(`${promUrl}/api/v1/metadata`)).json()) as {
      data: Record<string, { type: string }[]>;
    };
    expect(metadata.data.hw_energy_joules_total?.[0]?.type).toBe('counter');
    expect(metadata.data.hw_power_watts?.[0]?.type).toBe('gauge');
    expect(metadata.data.wattledger_request_co2e_grams?.[0]?.type).toBe('histogram');

    // Device energy: the last scraped total (a raw sample, with its scrape time) lies between the
    // ledger's batches that ended a second before that scrape and all batches sealed by the end.
    const scraped = await query('hw_energy_joules_total{job="wattledger"}[30s]');
    expect(scraped.length).toBeGreaterThanOrEqual(2);
    daemon.kill('SIGTERM');
    const result = await done;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    const batches = await batchStatements(ledger);
    for (const sample of scraped) {
      expect(sample.metric).toMatchObject({ hw_type: 'gpu', wattledger_simulated: 'true' });
      const id = sample.metric.hw_id as string;
      const [time, text] = sample.values?.at(-1) ?? [0, 'NaN'];
      const scrapedMicro = Math.round(Number(text) * 1e6);
      const sampleNanos = BigInt(Math.round(time * 1000)) * 1_000_000n;
      const energyOf = (before: bigint | null) =>
        batches
          .filter((b) => before === null || BigInt(b.window.endUnixNanos) <= before)
          .flatMap((b) => b.devices.filter((d) => d.deviceId === id))
          .reduce((total, d) => total + Number(d.energyMicroJoules), 0);
      expect(scrapedMicro).toBeGreaterThan(0);
      expect(scrapedMicro).toBeLessThanOrEqual(energyOf(null));
      expect(scrapedMicro).toBeGreaterThanOrEqual(energyOf(sampleNanos - 1_000_000_000n));
    }
  }, 60_000);

  it('refuses to start with EXPORT_LISTEN_FAILED when --prometheus names a port in use', async () => {
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => taken.close(() => resolve())));
    const { port } = taken.address() as { port: number };
    const { done } = await startSimulatedDaemon(dir, ['--prometheus', `127.0.0.1:${port}`]);
    const result = await done;
    // An address in use is the operator's to fix: exit 2, as every configuration or I/O error.
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `EXPORT_LISTEN_FAILED: the Prometheus endpoint cannot listen on 127.0.0.1:${port}: EADDRINUSE`,
    );
    expect(result.stderr).toContain('hint: choose another address with --prometheus');
  });
});

describeUnless(cliSkipReason())('the Prometheus endpoint of a metering-only daemon', () => {
  it('serves device energy with the ledger off, and stops cleanly', async () => {
    const { dir, cleanup } = await makeTmpDir();
    try {
      const { daemon, done } = await startSimulatedDaemon(dir, [
        '--no-ledger',
        '--prometheus',
        '127.0.0.1:0',
      ]);
      const log = await waitForStderr(daemon, (text) => text.includes('PROMETHEUS_LISTENING'));
      const url = /"code":"PROMETHEUS_LISTENING","url":"([^"]+)"/.exec(log)?.[1] as string;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const energy = await until('device energy above 0', async () => {
        const text = await (await fetch(url)).text();
        const lines = text.split('\n').filter((l) => l.startsWith('hw_energy_joules_total{'));
        return lines.length === 2 && lines.every((l) => Number(l.split(' ').at(-1)) > 0) ? lines : undefined;
      });
      expect(energy[0]).toContain('hw_type="gpu"');
      daemon.kill('SIGTERM');
      expect((await done).code).toBe(0);
    } finally {
      await cleanup();
    }
  });
});
