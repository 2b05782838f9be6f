import { z } from 'zod';
import { isListenAddress } from '../api/listen.js';

/**
 * The configuration schema: one place that says every key, its type, its bounds and its default.
 * Keys carry their unit (`gpuIntervalMs`). Host paths are configuration so that containers and
 * tests can redirect them.
 */
const probesSchema = z.object({
  /**
   * GPU backend: `auto` tries NVML, then nvidia-smi. Simulated GPUs are only ever used when asked
   * for: `simulated`, or `auto-or-simulated` (real GPUs when there are any, else simulated ones).
   */
  gpu: z.enum(['auto', 'nvml', 'nvidia-smi', 'simulated', 'auto-or-simulated', 'none']).default('auto'),
  /** Host CPU/DRAM energy: `auto` uses RAPL when readable, `on` makes a failure fatal, `off` skips it. */
  rapl: z.enum(['auto', 'on', 'off']).default('auto'),
  nvmlLibraryPath: z.string().min(1).default('libnvidia-ml.so.1'),
  nvidiaSmiPath: z.string().min(1).default('nvidia-smi'),
  sysfsRoot: z.string().min(1).default('/sys'),
  simulated: z
    .object({
      gpuCount: z.number().int().min(1).max(64).default(2),
      name: z.string().min(1).default('Simulated NVIDIA H100 80GB HBM3'),
      idlePowerMilliWatts: z.number().int().min(0).max(5_000_000).default(70_000),
      maxPowerMilliWatts: z.number().int().min(1).max(5_000_000).default(700_000),
      seed: z
        .number()
        .int()
        .min(0)
        .max(2 ** 31 - 1)
        .default(1),
    })
    .prefault({}),
});

const meterSchema = z.object({
  /** GPU sampling interval; NVML refreshes its energy counter every ~20–100 ms. */
  gpuIntervalMs: z.number().int().min(20).max(10_000).default(100),
  /** RAPL sampling interval; never slower than 1 s so at most one wrap can occur between reads. */
  raplIntervalMs: z.number().int().min(20).max(1000).default(1000),
  /** A probe read that takes longer is a `probe-timeout` gap. */
  readTimeoutMs: z.number().int().min(10).max(60_000).default(2000),
});

const ledgerSchema = z.object({
  /** Sign and store measurement batches. `run` needs a signing key when this is on. */
  enabled: z.boolean().default(true),
  /** Directory of the append-only ledger (segments, checkpoints, records). */
  dir: z.string().min(1).default('/var/lib/wattledger/ledger'),
  /** Log identity for checkpoints; null: `wattledger/<hostId>`. No spaces or `+`. */
  origin: z
    .string()
    .regex(/^[^\s+]{1,200}$/)
    .nullable()
    .default(null),
  batchIntervalMs: z.number().int().min(100).max(3_600_000).default(10_000),
  maxRecordsPerBatch: z.number().int().min(1).max(100_000).default(10_000),
  checkpointEveryBatches: z.number().int().min(1).max(1_000_000).default(10),
  maxSegmentBytes: z
    .number()
    .int()
    .min(4096)
    .max(2 ** 40)
    .default(64 * 1024 * 1024),
});

const keysSchema = z.object({
  /** Private key (PKCS#8 PEM, mode 0600); null: `$CREDENTIALS_DIRECTORY/signing-key` (systemd). */
  signingKeyPath: z.string().min(1).nullable().default(null),
  /** The key being rotated out: its signature on the first batch announces the new key. */
  previousSigningKeyPath: z.string().min(1).nullable().default(null),
});

const apiSchema = z.object({
  /** Serve the read-only ledger API (batches, checkpoints, proofs, receipts). */
  enabled: z.boolean().default(true),
  /** Where the API listens. Loopback by default: expose it deliberately, e.g. behind a proxy. */
  listen: z
    .string()
    .min(1)
    .refine(isListenAddress, 'host:port with a port from 0 to 65535, e.g. 127.0.0.1:9464 or [::1]:9464')
    .default('127.0.0.1:9464'),
  /** Largest page of `GET /v1/batches`. */
  maxPageSize: z.number().int().min(1).max(10_000).default(1000),
});

const engineSchema = z.object({
  /** Engine id: a model endpoint and the GPUs serving it (tensor parallel across several is normal). */
  id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
  /** GPU ids (`GPU-…` UUIDs, as `wattledger probe` lists them) or `all`. */
  devices: z.union([z.literal('all'), z.array(z.string().min(1)).min(1)]),
  /** Models served by this engine (informational; the proxy routes by upstream). */
  models: z.array(z.string().min(1)).default([]),
});

const attributionSchema = z.object({
  /** Idle power of each GPU in mW: energy up to idle × time is the idle share, never a request's. */
  idlePowerMilliWatts: z.number().int().min(0).max(5_000_000).default(0),
  /** Cost weight of one uncached prefill token. */
  prefillWeight: z.number().int().min(0).max(1_000_000).default(1),
  /** Cost weight of one decode token. */
  decodeWeight: z.number().int().min(0).max(1_000_000).default(4),
  /** Longest wait for an interval's requests to end before it is split by time overlap (estimated). */
  maxDelayMs: z.number().int().min(0).max(3_600_000).default(60_000),
});

const upstreamSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
  /** Base URL of an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, Ollama). */
  url: z.string().url(),
  /** The engine (id from `engines`, or `default`) whose GPUs serve this upstream. */
  engine: z.string().min(1).default('default'),
  models: z.array(z.string().min(1)).default([]),
});

const proxySchema = z.object({
  /** Run the measuring reverse proxy in front of the inference servers. */
  enabled: z.boolean().default(false),
  listen: z.string().refine(isListenAddress, 'host:port, e.g. 127.0.0.1:8080').default('127.0.0.1:8080'),
  /** The first upstream is the default (unknown models, unmeasured paths). */
  upstreams: z.array(upstreamSchema).default([]),
  /** Largest request body read to measure it; larger bodies pass through unmeasured. */
  maxBodyBytes: z
    .number()
    .int()
    .min(1024)
    .max(1024 * 1024 * 1024)
    .default(16 * 1024 * 1024),
  /** Upstream silence after which a request fails (504, or a cut stream). */
  upstreamTimeoutMs: z.number().int().min(100).max(3_600_000).default(600_000),
});

const logSchema = z.object({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export const configSchema = z.object({
  probes: probesSchema.prefault({}),
  meter: meterSchema.prefault({}),
  ledger: ledgerSchema.prefault({}),
  keys: keysSchema.prefault({}),
  api: apiSchema.prefault({}),
  engines: z.array(engineSchema).default([]),
  attribution: attributionSchema.prefault({}),
  proxy: proxySchema.prefault({}),
  log: logSchema.prefault({}),
});

/** The validated configuration with every default filled in. */
export type Config = z.infer<typeof configSchema>;
export type GpuProbeChoice = Config['probes']['gpu'];
