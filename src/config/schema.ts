import { z } from 'zod';

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

const logSchema = z.object({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export const configSchema = z.object({
  probes: probesSchema.prefault({}),
  meter: meterSchema.prefault({}),
  ledger: ledgerSchema.prefault({}),
  keys: keysSchema.prefault({}),
  log: logSchema.prefault({}),
});

/** The validated configuration with every default filled in. */
export type Config = z.infer<typeof configSchema>;
export type GpuProbeChoice = Config['probes']['gpu'];
