import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../clock.js';
import { type ChatServerActivity, createChatServer } from '../harness/chat-server.js';
import { SimulatedEngine } from '../harness/engine.js';
import { TruthLedger } from '../harness/truth-ledger.js';
import { DEMO_ENGINES, DEMO_GPU, type DemoEngine } from './models.js';
import { DemoNodeProbe } from './node-probe.js';
import { RealTimeScheduler } from './realtime-scheduler.js';

/** One engine's OpenAI-compatible server, once listening. */
export interface EngineServer {
  readonly engine: DemoEngine;
  /** Base URL on loopback, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
}

/**
 * The demo's simulated inference node on real time: one OpenAI-compatible server per engine (the
 * accuracy harness's chat server and continuous-batching engine, on a real-time scheduler), and
 * the {@link DemoNodeProbe} that exposes the energy their work takes as the node's sensors.
 */
export class DemoNode {
  readonly probe: DemoNodeProbe;
  /** What all servers have received and sent so far. */
  readonly activity: ChatServerActivity = { received: 0, chunks: 0, ended: 0 };
  private readonly scheduler: RealTimeScheduler;
  private readonly servers: { engine: DemoEngine; server: http.Server }[] = [];

  constructor(clock: Clock, engines: readonly DemoEngine[] = DEMO_ENGINES) {
    this.scheduler = new RealTimeScheduler(clock);
    const probed = engines.map((engine) => {
      const ledger = new TruthLedger({
        idleMilliWatts: DEMO_GPU.idleMilliWatts * engine.gpuIndexes.length,
        originNanos: clock.monoNanos(),
      });
      const simulated = new SimulatedEngine(
        {
          models: { [engine.model]: engine.cost },
          prefillTokensPerSecond: engine.prefillTokensPerSecond,
          prefillScheduling: 'fifo',
          emitLatencyMs: 1,
        },
        ledger,
        clock,
        this.scheduler,
      );
      const server = createChatServer({ engine: simulated, reportUsage: true, activity: this.activity });
      this.servers.push({ engine, server });
      return { engine, ledger };
    });
    this.probe = new DemoNodeProbe(probed, clock);
  }

  /** Starts every engine's server on a free loopback port. */
  async start(): Promise<EngineServer[]> {
    return Promise.all(
      this.servers.map(async ({ engine, server }) => {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve());
        });
        return { engine, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
      }),
    );
  }

  /** Stops the servers, dropping any stream still open, and every pending token. */
  async close(): Promise<void> {
    this.scheduler.cancelAll();
    await Promise.all(
      this.servers.map(({ server }) => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        return closed;
      }),
    );
  }
}
