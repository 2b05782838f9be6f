import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../clock.js';
import type { MicroJoules, MilliWatts } from '../units.js';
import { type ChatServerActivity, createChatServer } from './chat-server.js';
import { SimulatedEngine, type SimulatedEngineOptions } from './engine.js';
import { SimulatedNodeProbe, type SimulatedSensor } from './node-probe.js';
import { type RequestTruth, TruthLedger } from './truth-ledger.js';
import type { Scheduler } from './virtual-time.js';

export type { SimulatedModel } from './engine.js';
export type { SimulatedSensor } from './node-probe.js';

/** Options of {@link SimulatedNode}. */
export interface SimulatedNodeOptions extends SimulatedEngineOptions {
  /** Power of the GPU doing nothing, integer mW (the attributor is configured with the same). */
  readonly idleMilliWatts: MilliWatts;
  /** Enforced power limit reported to the meter (its plausibility ceiling). */
  readonly powerLimitMilliWatts: MilliWatts;
  /** Whether the server reports token usage (see `ChatServerOptions.reportUsage`). */
  readonly reportUsage: boolean;
  readonly sensor: SimulatedSensor;
  /** Shared by the server, the probe, the truth and the proxy (a `VirtualClock` in the harness). */
  readonly clock: Clock;
  /** Runs the engine's steps on that clock's time. */
  readonly scheduler: Scheduler;
  readonly deviceId?: string;
}

/** Device id of the simulated GPU unless the options name another. */
export const SIMULATED_NODE_GPU_ID = 'GPU-acc0ac0a-0000-4000-8000-000000000001';

/**
 * A simulated inference node: an OpenAI-compatible server on loopback and the GPU it runs on. The
 * GPU's power at each instant is `idle + Σ running requests' work rate × cost` (prefill: a per
 * uncached prompt token, spread over the request's prefill window; decode: b per output token at
 * its decode step), so each request's true active energy is known exactly ({@link trueActive}).
 * The {@link probe} exposes that energy like a hardware sensor, on the same clock as the server's
 * token timing, so the real meter, proxy and attributor run against it unmodified.
 */
export class SimulatedNode {
  readonly ledger: TruthLedger;
  readonly probe: SimulatedNodeProbe;
  readonly deviceId: string;
  readonly models: readonly string[];
  /** What the server has received and sent so far. */
  readonly activity: ChatServerActivity = { received: 0, chunks: 0, ended: 0 };
  private readonly server: http.Server;

  constructor(options: SimulatedNodeOptions) {
    const clock = options.clock;
    this.deviceId = options.deviceId ?? SIMULATED_NODE_GPU_ID;
    this.models = Object.keys(options.models);
    this.ledger = new TruthLedger({ idleMilliWatts: options.idleMilliWatts, originNanos: clock.monoNanos() });
    const engine = new SimulatedEngine(options, this.ledger, clock, options.scheduler);
    this.server = createChatServer({ engine, reportUsage: options.reportUsage, activity: this.activity });
    this.probe = new SimulatedNodeProbe({
      ledger: this.ledger,
      clock,
      sensor: options.sensor,
      deviceId: this.deviceId,
      powerLimitMilliWatts: options.powerLimitMilliWatts,
    });
  }

  /** Listens on 127.0.0.1 (a free port); returns the base URL. */
  async start(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A request's true active energy (µJ), by the id the proxy sent as `x-request-id`. */
  trueActive(requestId: string): MicroJoules | undefined {
    return this.ledger.activeMicroJoules(requestId);
  }

  /** A request's true work, split by phase. */
  truth(requestId: string): RequestTruth | undefined {
    return this.ledger.request(requestId);
  }

  /** Stops the server, dropping any connection still open. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}
