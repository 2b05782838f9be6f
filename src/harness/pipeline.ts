import type { AddressInfo } from 'node:net';
import { Attributor } from '../attribution/attributor.js';
import { LearnedIdleBaseline } from '../attribution/idle-learner.js';
import { Meter } from '../meter/meter.js';
import { createMeasuringProxy, type MeasuringProxy } from '../proxy/proxy.js';
import type { RequestEvent } from '../requests/types.js';
import { AttributionCollector } from './report.js';
import type { Scenario } from './scenarios.js';
import { SimulatedNode } from './simulated-node.js';
import { VirtualClock, VirtualScheduler } from './virtual-time.js';

/** How many events of each kind the attributor received from the proxy. */
export type EventCounts = Record<RequestEvent['type'], number>;

/** The simulated node and the real measurement chain in front of it, on one virtual clock. */
export interface Pipeline {
  readonly clock: VirtualClock;
  readonly scheduler: VirtualScheduler;
  readonly node: SimulatedNode;
  readonly meter: Meter;
  readonly attributor: Attributor;
  readonly collector: AttributionCollector;
  /** Base URL of the measuring proxy (loopback). */
  readonly proxyUrl: string;
  readonly seen: EventCounts;
  close(): Promise<void>;
}

const ENGINE_ID = 'sim-engine';

/**
 * Starts a scenario's simulated node on 127.0.0.1, and in front of it the real measuring proxy
 * (also on 127.0.0.1) feeding the real `Attributor`, which also gets the real `Meter`'s ticks of
 * the node's probe. Nothing is modified: the harness only owns the clock.
 */
export async function startPipeline(scenario: Scenario, meterIntervalMs: number): Promise<Pipeline> {
  const clock = new VirtualClock();
  const scheduler = new VirtualScheduler();
  const node = new SimulatedNode({ ...scenario.node, clock, scheduler });
  const nodeUrl = await node.start();
  const collector = new AttributionCollector();
  const attributor = createAttributor(scenario, node, collector);
  const { devices } = await node.probe.open();
  const meter = new Meter([{ probe: node.probe, devices, intervalMs: meterIntervalMs }], {
    clock,
    readTimeoutMs: 1000,
  });
  meter.subscribe((tick) => attributor.onTick(tick));
  const seen: EventCounts = { start: 0, progress: 0, end: 0 };
  const proxy = createMeasuringProxy({
    // The simulated server streams usage only when asked (chat-server.ts): no need to learn it.
    upstreams: [
      { name: 'sim', url: nodeUrl, engineId: ENGINE_ID, models: node.models, sendsUsageUnasked: false },
    ],
    defaultUpstream: 'sim',
    sink: (event) => {
      seen[event.type] += 1;
      attributor.onEvent(event);
    },
    clock,
    maxBodyBytes: 4 * 1024 * 1024,
    upstreamTimeoutMs: 30_000,
  });
  const proxyUrl = await listen(proxy);
  const close = async () => {
    proxy.server.closeAllConnections();
    await proxy.close();
    await node.close();
  };
  return { clock, scheduler, node, meter, attributor, collector, proxyUrl, seen, close };
}

/**
 * The attributor as the daemon would configure it: the node's GPU is the engine, same idle power;
 * or, where the scenario says so, a learned idle baseline starting from a configured guess.
 */
function createAttributor(scenario: Scenario, node: SimulatedNode, collector: AttributionCollector) {
  const learned = scenario.learnedIdle;
  const configured = new Map([
    [node.deviceId, learned ? learned.configuredMilliWatts : scenario.node.idleMilliWatts],
  ]);
  const nanos = (ms: number) => BigInt(ms) * 1_000_000n;
  return new Attributor({
    engines: [{ engineId: ENGINE_ID, deviceIds: [node.deviceId], models: node.models }],
    hostDeviceIds: [],
    idlePowerMilliWatts: configured,
    powerLimitMilliWatts: new Map([[node.deviceId, scenario.node.powerLimitMilliWatts]]),
    ...(learned
      ? {
          idleBaseline: new LearnedIdleBaseline({
            configured,
            settleNanos: nanos(learned.settleMs),
            windowNanos: nanos(learned.windowMs),
            minIdleNanos: nanos(learned.minMs),
          }),
        }
      : {}),
    prefillWeight: scenario.prefillWeight,
    decodeWeight: scenario.decodeWeight,
    ...(scenario.costModel === undefined ? {} : { costModel: scenario.costModel }),
    onAllocation: collector.onAllocation,
    onRecord: collector.onRecord,
  });
}

async function listen(proxy: MeasuringProxy): Promise<string> {
  await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;
}
