import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateKeyFile } from '../keys/key-file.js';
import { DEMO_GPU, type DemoEngine, demoGpuId } from './models.js';
import type { EngineServer } from './node.js';

/** Where the demo keeps what it writes, under its `--dir`. */
export interface DemoPaths {
  readonly dir: string;
  readonly config: string;
  readonly ledger: string;
  readonly signingKey: string;
  readonly publicKey: string;
  readonly log: string;
}

/** The log origin and key name of every demo ledger: a receipt says it came from a demo. */
export const DEMO_ORIGIN = 'wattledger/demo';

export function demoPaths(dir: string): DemoPaths {
  const signingKey = join(dir, 'signing.key');
  return {
    dir,
    config: join(dir, 'config.yaml'),
    ledger: join(dir, 'ledger'),
    signingKey,
    publicKey: `${signingKey}.pub`,
    log: join(dir, 'daemon.log'),
  };
}

/** Creates the directory and the signing key unless they exist (a second run on a `--dir` resumes its chain). */
export async function prepareDemoDir(paths: DemoPaths): Promise<{ newKey: boolean }> {
  await mkdir(paths.dir, { recursive: true });
  const exists = await access(paths.signingKey).then(
    () => true,
    () => false,
  );
  if (!exists) await generateKeyFile(paths.signingKey, { name: DEMO_ORIGIN });
  return { newKey: !exists };
}

/** What the demo's configuration depends on. */
export interface DemoConfigInputs {
  readonly paths: DemoPaths;
  readonly servers: readonly EngineServer[];
  readonly apiListen: string;
  readonly proxyListen: string;
  readonly batchIntervalMs: number;
  /** Real GPUs: no engine map to the simulated node's GPUs; every upstream runs on `default`. */
  readonly realGpus: boolean;
}

/**
 * The demo's configuration, as an ordinary config file the user can read and pass to `receipt`
 * or `report` afterwards (`--config D/config.yaml`). Batches every 2 s with a checkpoint after
 * each, so a receipt is ready a few seconds after its answer. The carbon and water factors are
 * illustrative values from docs/FACTORS.md, labelled as demo values in every batch.
 */
export function demoConfig(inputs: DemoConfigInputs): Record<string, unknown> {
  const engines: readonly DemoEngine[] = inputs.servers.map((s) => s.engine);
  return {
    probes: { gpu: inputs.realGpus ? 'auto' : 'simulated', rapl: inputs.realGpus ? 'auto' : 'off' },
    ledger: {
      dir: inputs.paths.ledger,
      origin: DEMO_ORIGIN,
      batchIntervalMs: inputs.batchIntervalMs,
      checkpointEveryBatches: 1,
    },
    keys: { signingKeyPath: inputs.paths.signingKey },
    api: { listen: inputs.apiListen },
    engines: inputs.realGpus
      ? []
      : engines.map((e) => ({ id: e.id, devices: e.gpuIndexes.map(demoGpuId), models: [e.model] })),
    attribution: { idlePowerMilliWatts: DEMO_GPU.idleMilliWatts },
    proxy: {
      enabled: true,
      listen: inputs.proxyListen,
      inlineEnergy: true,
      upstreams: inputs.servers.map((s) => ({
        name: s.engine.id,
        url: s.url,
        engine: inputs.realGpus ? 'default' : s.engine.id,
        models: [s.engine.model],
        // The demo's own chat server sends usage only when asked, so the proxy may ask from the first request.
        sendsUsageUnasked: false,
      })),
    },
    factors: {
      zone: 'US-CAL-CISO',
      pueMilli: 1170,
      wueMillilitersPerKilowattHour: 550,
      wueSource: 'wattledger demo: illustrative value (docs/FACTORS.md example), not a real site',
      ewifMillilitersPerKilowattHour: 3140,
      ewifSource: 'wattledger demo: illustrative value (Li et al. 2023, US average), not a real supply',
      market: {
        gridIntensityMilligramsPerKilowattHour: 0,
        instrument: 'PPA',
        note: 'wattledger demo: an illustrative contract (PPA, 0 g/kWh), not a real one',
      },
      energySource: {
        kind: 'grid-mix',
        description: 'CAISO grid average mix (demo value)',
      },
    },
    log: { level: 'debug' },
  };
}

/** Writes the configuration file, with a header saying what it is. */
export async function writeDemoConfig(path: string, config: Record<string, unknown>): Promise<void> {
  const header =
    '# Written by `wattledger demo` for its SIMULATED node; rewritten on every run (upstream ports change).\n' +
    '# Use it with `wattledger receipt --config` and `wattledger report --config`.\n';
  await writeFile(path, header + stringify(config), 'utf8');
}
