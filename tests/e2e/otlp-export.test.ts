import { afterEach, describe, expect, it } from 'vitest';
import { cliSkipReason, startSimulatedDaemon, waitForStderr } from '../helpers/cli.js';
import { ledgerLines } from '../helpers/ledger-fixture.js';
import { OtlpReceiver } from '../helpers/otlp-receiver.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { logRecords, metricPoints } from '../integration/export/otlp-views.js';

// The daemon exports to a loopback OTLP receiver that decodes protobuf: the hw.energy metric
// arrives, and every signed batch arrives as a log record equal to the ledger line.
const skip = cliSkipReason();

describe.skipIf(skip !== undefined)('the daemon exporting over OTLP', () => {
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
});
