import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Attributor } from '../../../src/attribution/attributor.js';
import type { RequestEnergyRecord } from '../../../src/attribution/types.js';
import { systemClock } from '../../../src/clock.js';
import { createMeasuringProxy, type MeasuringProxy } from '../../../src/proxy/proxy.js';
import { interval } from '../../helpers/device-interval.js';
import {
  eventSplits,
  FakeUpstream,
  FIXTURE_CASES,
  loadFixture,
  type Reply,
  tgiErrorReply,
} from '../../helpers/fake-upstream.js';
import { postJson } from './harness.js';

// The setting, end to end through the real proxy and attributor on the real clock: two
// GPUs of 700 W each, idle configured 0, drawing their limit the whole time, every recorded
// exchange, a server error and a refused connection. No record may exceed 2 × 700 W × its
// duration; a request that never reached a server gets nothing.
const LIMIT_MW = 700_000n;
const GPUS = ['gpu0', 'gpu1'];

let fake: FakeUpstream;
let refusedPort: number;
let proxy: MeasuringProxy;
let url: string;
let next: () => Reply = () => ({ body: Buffer.alloc(0) });
const records: RequestEnergyRecord[] = [];
const attributor = new Attributor({
  engines: [{ engineId: 'e', deviceIds: GPUS, models: [] }],
  hostDeviceIds: [],
  idlePowerMilliWatts: new Map(),
  powerLimitMilliWatts: new Map(GPUS.map((id) => [id, Number(LIMIT_MW)])),
  onRecord: (record) => records.push(record),
});
const from = systemClock.monoNanos();

beforeAll(async () => {
  fake = await FakeUpstream.start(() => next());
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  refusedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  proxy = createMeasuringProxy({
    upstreams: [
      { name: 'a', url: fake.url, engineId: 'e', models: [], sendsUsageUnasked: false },
      { name: 'gone', url: `http://127.0.0.1:${refusedPort}`, engineId: 'e', models: ['gone'] },
    ],
    defaultUpstream: 'a',
    sink: attributor.onEvent,
    clock: systemClock,
    maxBodyBytes: 1024 * 1024,
    upstreamTimeoutMs: 5000,
  });
  await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  proxy.server.closeAllConnections();
  await proxy.close();
  await fake.close();
});

describe('physical bounds on every recorded exchange', () => {
  it('no record above its GPUs’ limit × its duration; nothing for a request that never reached a server', async () => {
    for (const fixture of FIXTURE_CASES) {
      const body = loadFixture(fixture.file).body;
      next = () => ({ ...loadFixture(fixture.file), split: eventSplits(body), delayMs: 2 });
      await postJson(`${url}${fixture.path}`, {
        model: 'm',
        stream: fixture.stream,
        ...(fixture.operation === 'embedding'
          ? { input: 'hi' }
          : { messages: [{ role: 'user', content: 'hi' }] }),
      });
    }
    next = () => tgiErrorReply();
    const failed = await postJson(`${url}/v1/chat/completions`, { model: 'm', messages: [], stream: true });
    expect(failed.status).toBe(500);
    const refused = await postJson(`${url}/v1/chat/completions`, { model: 'gone', messages: [] });
    expect(refused.status).toBe(502);
    // The GPUs at their limit, in 100 ms intervals, over the whole run.
    const to = systemClock.monoNanos() + 100_000_000n;
    for (let t = from; t < to; t += 100_000_000n) {
      for (const id of GPUS)
        attributor.onInterval(interval(id, t, t + 100_000_000n, (LIMIT_MW * 100_000_000n) / 1_000_000n));
    }
    attributor.flush();
    expect(records).toHaveLength(FIXTURE_CASES.length + 2);
    for (const record of records) {
      const gpu = BigInt(record.activeEnergyMicroJoules) + BigInt(record.idleShareMicroJoules);
      const ceiling = (2n * LIMIT_MW * BigInt(record.durationNanos)) / 1_000_000n;
      expect(gpu <= ceiling, `${record.requestId}: ${gpu} µJ > ${ceiling} µJ`).toBe(true);
    }
    const unreached = records.filter((r) => r.outcome === 'unreached');
    expect(unreached).toHaveLength(1);
    expect(unreached[0]).toMatchObject({
      activeEnergyMicroJoules: '0',
      idleShareMicroJoules: '0',
      estimated: false,
    });
    const error = records.find((r) => r.httpStatus === 500);
    expect(error).toMatchObject({ outcome: 'error', activeEnergyMicroJoules: '0' }); // no tokens shown
  });
});
