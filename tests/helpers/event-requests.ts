/**
 * Requests for e2e tests of the daemon: a config that turns on the event API with a token file
 * and carbon/water factors (so records carry CO2e and water), requests sent through that API, and
 * the request records read back from the ledger's record log.
 */
import { existsSync } from 'node:fs';
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const EVENT_TOKEN = 'secret-token-0123456789abcdef';

/** One boundary's impact as records store it (µg, µL, µJ as decimal strings; null: unknown). */
export interface StoredImpact {
  readonly co2eLocationMicrograms: string | null;
  readonly co2eMarketMicrograms: string | null;
  readonly waterMicroliters: string | null;
  readonly facilityEnergyMicroJoules: string;
}

/** The fields of a stored request record the export tests compare with. */
export interface StoredRecord {
  readonly requestId: string;
  readonly model: string | null;
  readonly activeEnergyMicroJoules: string;
  readonly activeImpact: StoredImpact;
  readonly comprehensive: StoredImpact | null;
}

/**
 * Writes `dir/config.yaml` (and `dir/tokens`): event API and API on free loopback ports,
 * location (380 g/kWh) and market (20 g/kWh) CO2e, PUE 1.25, on-site and off-site water, plus
 * `extra` YAML lines. Returns the config path.
 */
export async function writeEventConfig(dir: string, extra: readonly string[] = []): Promise<string> {
  const tokenFile = join(dir, 'tokens');
  await writeFile(tokenFile, `${EVENT_TOKEN}\n`);
  await chmod(tokenFile, 0o600);
  const config = join(dir, 'config.yaml');
  await writeFile(
    config,
    [
      `events: { enabled: true, listen: "127.0.0.1:0", tokenFile: "${tokenFile}" }`,
      'api: { listen: "127.0.0.1:0" }',
      'factors:',
      '  zone: DE',
      '  gridIntensityMilligramsPerKilowattHour: 380000',
      '  gridIntensityNote: e2e figure',
      '  pueMilli: 1250',
      '  market: { gridIntensityMilligramsPerKilowattHour: 20000, instrument: PPA, note: e2e }',
      '  wueMillilitersPerKilowattHour: 500',
      '  wueSource: e2e',
      '  ewifMillilitersPerKilowattHour: 3100',
      '  ewifSource: e2e',
      ...extra,
      '',
    ].join('\n'),
  );
  return config;
}

/** Starts the requests (engine `default`), waits `runMs`, then ends each with growing usage. */
export async function sendEventRequests(
  eventsUrl: string,
  requests: readonly { requestId: string; model: string }[],
  runMs = 600,
): Promise<void> {
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${eventsUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${EVENT_TOKEN}` },
      body: JSON.stringify(body),
    });
    if (response.status !== 202) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  };
  for (const r of requests) await post('/v1/requests/start', { ...r, engineId: 'default' });
  await new Promise((resolve) => setTimeout(resolve, runMs));
  for (const [i, r] of requests.entries()) {
    await post(`/v1/requests/${r.requestId}/end`, {
      outcome: 'ok',
      usage: { inputTokens: 100 * (i + 1), outputTokens: 20 * (i + 1) },
    });
  }
}

/** Every request record in the ledger's record log, in log order. */
export async function storedRecords(ledger: string): Promise<StoredRecord[]> {
  const dir = join(ledger, 'records');
  if (!existsSync(dir)) return [];
  const files = (await readdir(dir)).filter((f) => f.endsWith('.jsonl')).sort();
  const texts = await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')));
  return texts
    .flatMap((text) => text.split('\n').filter((line) => line !== ''))
    .map((line) => (JSON.parse(line) as { record: StoredRecord }).record);
}

/** Polls `probe` every 200 ms until it returns a value (errors count as not yet). */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A decimal string of micro-units (µJ, µg, µL) as the base unit; null and absent count as 0. */
export const fromMicro = (text: string | null | undefined): number => Number(text ?? 0) / 1e6;
