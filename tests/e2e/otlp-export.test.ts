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
import { ledgerLines } from '../helpers/ledger-fixture.js';
import { OtlpReceiver } from '../helpers/otlp-receiver.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { logRecords, metricPoints } from '../integration/export/otlp-views.js';

// The daemon exports to a loopback OTLP receiver that decodes protobuf: the hw.energy metric
// arrives, and every signed batch arrives as a log record equal to the ledger line.
const skip = cliSkipReason();

describeUnless(skip)('the daemon exporting over OTLP', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('sends hw.energy and every signed batch, unchanged, to the collector', async () => {
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const receiver = await OtlpReceiver.start();
    cleanups.push(() => receiver.close());
    const { ledger, daemon, done } = await startSimulatedDaemon(dir, ['--otlp'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
    });
    await waitForStderr(daemon, (text) => (text.match(/LEDGER_SEALED/g) ?? []).length >= 3);
    await receiver.waitFor(() => receiver.accepted('metrics').length > 0);
    daemon.kill('SIGTERM');
    expect((await done).code).toBe(0);
    const names = new Set(metricPoints(receiver.accepted('metrics')).map((p) => p.name));
    expect(names.has('hw.energy')).toBe(true);
    expect(names.has('hw.power')).toBe(true);
    const bodies = logRecords(receiver.accepted('logs')).map((r) => r.body);
    const lines = await ledgerLines(ledger);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines) expect(bodies).toContain(line);
  });

  it('exports request energy, CO2e and water histograms whose sums are the ledger’s records', async () => {
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const receiver = await OtlpReceiver.start();
    cleanups.push(() => receiver.close());
    const config = await writeEventConfig(dir);
    const { ledger, daemon, done } = await startSimulatedDaemon(dir, ['--otlp', '--config', config], {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
    });
    const log = await waitForStderr(daemon, (text) => text.includes('EVENTS_LISTENING'));
    const eventsUrl = /"code":"EVENTS_LISTENING","url":"([^"]+)"/.exec(log)?.[1] as string;
    const requests = ['a', 'b', 'c'].map((id) => ({ requestId: `req-${id}`, model: 'llama' }));
    await sendEventRequests(eventsUrl, requests);
    const records = await until('every request sealed into the ledger', async () => {
      const found = await storedRecords(ledger);
      return found.length === requests.length ? found : undefined;
    });
    // Stopping exports the metrics a last time; cumulative, so the last export holds every request.
    daemon.kill('SIGTERM');
    const result = await done;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    const last = receiver.accepted('metrics').at(-1);
    const points = metricPoints(last ? [last] : []);
    const point = (name: string, boundary: string, basis?: string) => {
      const found = points.filter(
        (p) =>
          p.name === name &&
          p.attributes['wattledger.energy.boundary'] === boundary &&
          p.attributes['wattledger.co2e.basis'] === basis,
      );
      expect(found, `${name} ${boundary} ${basis}`).toHaveLength(1);
      return found[0] as (typeof found)[number];
    };
    const sum = (pick: (r: StoredRecord) => string | null | undefined) =>
      records.reduce((total, r) => total + fromMicro(pick(r)), 0);
    const energy = point('wattledger.request.energy', 'active');
    expect(energy).toMatchObject({ unit: 'J', count: 3 });
    expect(energy.sum).toBeGreaterThan(0);
    expect(energy.sum).toBeCloseTo(
      sum((r) => r.activeEnergyMicroJoules),
      9,
    );
    const location = point('wattledger.request.co2e', 'active', 'location');
    expect(location).toMatchObject({ unit: 'g', count: 3 });
    expect(location.sum).toBeCloseTo(
      sum((r) => r.activeImpact.co2eLocationMicrograms),
      12,
    );
    const market = point('wattledger.request.co2e', 'active', 'market');
    expect(market.sum).toBeCloseTo(
      sum((r) => r.activeImpact.co2eMarketMicrograms),
      12,
    );
    const water = point('wattledger.request.water', 'active');
    expect(water).toMatchObject({ unit: 'L', count: 3 });
    expect(water.sum).toBeCloseTo(
      sum((r) => r.activeImpact.waterMicroliters),
      12,
    );
    if (records.every((r) => r.comprehensive !== null)) {
      expect(point('wattledger.request.energy', 'comprehensive').sum).toBeCloseTo(
        sum((r) => r.comprehensive?.facilityEnergyMicroJoules),
        9,
      );
      expect(point('wattledger.request.co2e', 'comprehensive', 'location').sum).toBeCloseTo(
        sum((r) => r.comprehensive?.co2eLocationMicrograms),
        12,
      );
      expect(point('wattledger.request.water', 'comprehensive').sum).toBeCloseTo(
        sum((r) => r.comprehensive?.waterMicroliters),
        12,
      );
    }
  });
});
