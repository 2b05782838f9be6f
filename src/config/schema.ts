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
      /** Counter range: the simulated counters wrap at it, like RAPL's; null: they never wrap. */
      wrapMicroJoules: z.number().int().min(1).nullable().default(null),
      /** Hardware events to simulate, `atMs` after the probe opens (src/probes/simulated.ts). */
      faults: z
        .array(
          z.discriminatedUnion('kind', [
            z.strictObject({
              kind: z.literal('reset'),
              gpu: z.number().int().min(0),
              atMs: z.number().int().min(0),
            }),
            z.strictObject({
              kind: z.literal('lose'),
              gpu: z.number().int().min(0),
              atMs: z.number().int().min(0),
              forMs: z.number().int().min(1).optional(),
            }),
          ]),
        )
        .max(100)
        .default([]),
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
  /**
   * Idle power of each GPU in mW: energy up to idle × time is the idle share, never a request's.
   * Unset: with the learned baseline, the lowest power measured on the GPU is its prior; with
   * `idleBaseline: configured`, 0.
   */
  idlePowerMilliWatts: z.number().int().min(0).max(5_000_000).nullable().default(null),
  /** Cost weight of one uncached prefill token. */
  prefillWeight: z.number().int().min(0).max(1_000_000).default(1),
  /** Cost weight of one decode token. */
  decodeWeight: z.number().int().min(0).max(1_000_000).default(4),
  /** `configured`: split by prefillWeight:decodeWeight; `fitted`: per-model costs fitted online from the measured intervals, that ratio the prior. */
  costModel: z.enum(['configured', 'fitted']).default('configured'),
  /** Longest wait for an interval's requests to end before it is split by time overlap (estimated). */
  maxDelayMs: z.number().int().min(0).max(3_600_000).default(60_000),
  /** `learned` (default): per GPU from genuinely idle periods, persisted across restarts (idlePowerMilliWatts, or the lowest measured power, until enough are seen); `configured`: idlePowerMilliWatts. */
  idleBaseline: z.enum(['configured', 'learned']).default('learned'),
  /** Learned: an interval is idle only this long after the engine's last request ended. */
  idleSettleMs: z.number().int().min(0).max(3_600_000).default(5_000),
  /** Learned: the most recent idle time the median is taken over. */
  idleLearnWindowMs: z.number().int().min(1_000).max(86_400_000).default(600_000),
  /** Learned: idle time needed before the learned value replaces idlePowerMilliWatts. */
  idleLearnMinMs: z.number().int().min(1_000).max(86_400_000).default(60_000),
});

const upstreamSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
  /** Base URL of an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, Ollama). */
  url: z.string().url(),
  /** The engine (id from `engines`, or `default`) whose GPUs serve this upstream. */
  engine: z.string().min(1).default('default'),
  models: z.array(z.string().min(1)).default([]),
  /**
   * Whether the server streams usage unasked (vLLM `--enable-force-include-usage`); unset: learned
   * from the first streamed response whose client did not ask for usage (relayed as sent).
   */
  sendsUsageUnasked: z.boolean().optional(),
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
  /** Put each request's energy into its response: a last SSE event, or a `wattledger` JSON member. */
  inlineEnergy: z.boolean().default(false),
  /** Longest wait after the upstream's end for the record; then `status: "pending"` is sent. */
  inlineEnergyMaxWaitMs: z.number().int().min(1).max(60_000).default(1000),
});

/** An operator-supplied market-based factor (GHG Protocol Scope 2): never derived, never defaulted. */
const marketFactorSchema = z.object({
  /** The contractual instrument's emission rate, mg CO2e per kWh (integer). */
  gridIntensityMilligramsPerKilowattHour: z.number().int().min(0).max(5_000_000),
  /** What backs it: "PPA", "REC", "GO", "supplier mix", "residual mix". */
  instrument: z.string().min(1).max(200),
  /** Where the figure comes from (contract, certificate, supplier disclosure). */
  note: z.string().min(1).max(1000),
});

/**
 * Carbon and water factors (docs/FACTORS.md). Integers with their unit in the name: PUE in
 * thousandths, intensities in mg CO2e per kWh, water in mL per kWh. Without a zone no CO2e is
 * reported; an unknown zone is an error, checked when the factors are resolved.
 */
const factorsSchema = z
  .object({
    /** Facility PUE × 1000. 1000 (PUE 1.0) means unknown: set your facility's. */
    pueMilli: z.number().int().min(1000).max(10_000).default(1000),
    /** Electricity Maps zone ("DE", "US-CAL-CISO") or ISO 3166 alpha-3 ("DEU"); null: no CO2e. */
    zone: z.string().min(1).max(64).nullable().default(null),
    /** Electricity Maps year; null: the latest the data package has. */
    gridIntensityYear: z.number().int().min(2000).max(2100).nullable().default(null),
    /** Operator's own location-based intensity, replacing the package's value for `zone`. */
    gridIntensityMilligramsPerKilowattHour: z.number().int().min(0).max(5_000_000).nullable().default(null),
    /** Where the operator's intensity comes from; required with it. */
    gridIntensityNote: z.string().min(1).max(1000).nullable().default(null),
    market: marketFactorSchema.nullable().default(null),
    /** On-site water usage effectiveness, mL per kWh of IT energy. */
    wueMillilitersPerKilowattHour: z.number().int().min(0).max(100_000).default(0),
    wueSource: z.string().min(1).max(1000).nullable().default(null),
    /** Off-site electricity water intensity, mL per kWh generated; null: off-site water unknown. */
    ewifMillilitersPerKilowattHour: z.number().int().min(0).max(100_000).nullable().default(null),
    ewifSource: z.string().min(1).max(1000).nullable().default(null),
    energySource: z
      .object({
        kind: z.enum(['grid-mix', 'contracted']).default('grid-mix'),
        description: z.string().min(1).max(1000).nullable().default(null),
      })
      .prefault({}),
  })
  .superRefine((factors, context) => {
    // A factor without its provenance could not be checked by whoever reads the signed batch.
    const override = factors.gridIntensityMilligramsPerKilowattHour !== null;
    const rules: [boolean, string[], string][] = [
      [override && factors.zone === null, ['zone'], 'a zone label when the intensity is overridden'],
      [
        override && factors.gridIntensityNote === null,
        ['gridIntensityNote'],
        'a note saying where the intensity comes from',
      ],
      [
        factors.wueMillilitersPerKilowattHour > 0 && factors.wueSource === null,
        ['wueSource'],
        'the source of the wue value',
      ],
      [
        factors.ewifMillilitersPerKilowattHour !== null && factors.ewifSource === null,
        ['ewifSource'],
        'the source of the ewif value',
      ],
      [
        factors.energySource.kind === 'contracted' && factors.energySource.description === null,
        ['energySource', 'description'],
        'a description of the contracted supply',
      ],
    ];
    for (const [broken, path, message] of rules) {
      if (broken) context.addIssue({ code: 'custom', path, message });
    }
  });

const otlpSchema = z.object({
  /**
   * Export metrics and the signed ledger over OTLP/HTTP. The standard `OTEL_EXPORTER_OTLP_*`
   * variables (endpoint, protocol, headers, timeout, compression, certificates, temporality) win
   * over the keys below, which only supply defaults.
   */
  enabled: z.boolean().default(false),
  /** Base URL; `/v1/metrics` and `/v1/logs` are appended. Used only without `OTEL_EXPORTER_OTLP_*ENDPOINT`. */
  endpoint: z.string().url().default('http://localhost:4318'),
  /** Used only without `OTEL_EXPORTER_OTLP_PROTOCOL` (or its per-signal variants). */
  protocol: z.enum(['http/protobuf', 'http/json']).default('http/protobuf'),
  metricsEnabled: z.boolean().default(true),
  /** Metric export interval; `OTEL_METRIC_EXPORT_INTERVAL` wins when set. */
  metricsIntervalMs: z.number().int().min(1000).max(3_600_000).default(60_000),
  /** `gen_ai.provider.name` on the GenAI metrics (required there): the serving software, e.g. `vllm`. */
  genAiProviderName: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/)
    .default('unknown'),
  logsEnabled: z.boolean().default(true),
  /** How often the ledger is checked for batches not yet exported (sealing also triggers a check). */
  logsPollIntervalMs: z.number().int().min(100).max(3_600_000).default(10_000),
  /** Most log records (batches + checkpoints) in one export request. */
  logsMaxBatchRecords: z.number().int().min(1).max(10_000).default(100),
  /** First wait after a failed log export; doubles per failure up to `retryMaxDelayMs`. */
  retryInitialDelayMs: z.number().int().min(10).max(600_000).default(1000),
  retryMaxDelayMs: z.number().int().min(10).max(3_600_000).default(60_000),
});

const prometheusSchema = z.object({
  /** Serve the metrics (the same instruments as OTLP) for Prometheus to scrape. */
  enabled: z.boolean().default(false),
  /**
   * Where the scrape endpoint listens. Loopback by default. Not 9464, the OpenTelemetry
   * exporter's usual port: `api.listen` has it.
   */
  listen: z
    .string()
    .min(1)
    .refine(isListenAddress, 'host:port with a port from 0 to 65535, e.g. 127.0.0.1:9466 or [::1]:9466')
    .default('127.0.0.1:9466'),
  /** The scrape path. */
  path: z
    .string()
    .regex(/^\/[A-Za-z0-9._~/-]{0,200}$/, 'a path starting with /, e.g. /metrics')
    .default('/metrics'),
});

const eventsSchema = z.object({
  /** Serve the request event API (docs/EVENTS.md) for inference servers the proxy does not front. */
  enabled: z.boolean().default(false),
  /** Where the event API listens. Loopback by default: the servers reporting run on this host. */
  listen: z
    .string()
    .min(1)
    .refine(isListenAddress, 'host:port with a port from 0 to 65535, e.g. 127.0.0.1:9465 or [::1]:9465')
    .default('127.0.0.1:9465'),
  /**
   * File of bearer tokens, one per line, mode 0600 (never in this file: configs are often world
   * readable). null: `$CREDENTIALS_DIRECTORY/event-api-tokens` (systemd `LoadCredential`).
   */
  tokenFile: z.string().min(1).nullable().default(null),
  /** Most open requests; a start beyond it answers 429. */
  maxInFlight: z.number().int().min(1).max(1_000_000).default(10_000),
  /** Largest request body; a full batch of 1000 events is about 300 KiB. */
  maxBodyBytes: z
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(1_048_576),
  /** An open request without any event for this long is ended as cancelled (a crashed client). */
  openTimeoutMs: z.number().int().min(1000).max(86_400_000).default(3_600_000),
});

/** OTLP/HTTP span intake (docs/SPANS.md): inference servers' own request spans, as requests. */
const spansSchema = z.object({
  /** Serve `POST /v1/traces` for vLLM, SGLang and TGI span exports. */
  enabled: z.boolean().default(false),
  /** Loopback by default, and not 4318, so that a local OpenTelemetry Collector keeps its port. */
  listen: z
    .string()
    .min(1)
    .refine(isListenAddress, 'host:port with a port from 0 to 65535, e.g. 127.0.0.1:4319 or [::1]:4319')
    .default('127.0.0.1:4319'),
  /** Bearer tokens (same file format as `events.tokenFile`); null: no token (loopback only). */
  tokenFile: z.string().min(1).nullable().default(null),
  /** Largest export body, compressed and after decompression alike. */
  maxBodyBytes: z
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(4_194_304),
  /** Most spans in one export; a larger export is refused whole (400). */
  maxSpansPerExport: z.number().int().min(1).max(100_000).default(10_000),
  /**
   * How long every interval waits for late spans before it is split (at most attribution.maxDelayMs):
   * a span arrives its request's duration plus the exporter's delay after the request's first interval.
   */
  lagMs: z.number().int().min(0).max(3_600_000).default(30_000),
  /** Servers by their `service.name` and the engine each runs on, for spans whose model names none. */
  services: z
    .array(z.object({ name: z.string().min(1), engine: z.string().min(1) }))
    .refine((list) => new Set(list.map((s) => s.name)).size === list.length, 'service names must be unique')
    .default([]),
});

/** Limits every HTTP listener gets (API, event API, span intake, proxy), each its own. */
const httpSchema = z.object({
  /** Most open connections per listener; more are closed at once. The proxy counts twice (its upstream sockets). */
  maxConnectionsPerListener: z.number().int().min(1).max(1_000_000).default(1024),
  /** A connection must send its request headers within this time, or is closed (slowloris). */
  headersTimeoutMs: z.number().int().min(1000).max(600_000).default(10_000),
  /** A request, body included, must arrive within this time, or is answered 408 and closed. */
  requestTimeoutMs: z.number().int().min(1000).max(3_600_000).default(30_000),
  /** An idle keep-alive connection is closed after this time. */
  keepAliveTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
  /** File descriptors kept free for the ledger, probes and exporters whatever the listeners hold. */
  fdReserve: z.number().int().min(16).max(100_000).default(256),
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
  events: eventsSchema.prefault({}),
  spans: spansSchema.prefault({}),
  otlp: otlpSchema.prefault({}),
  prometheus: prometheusSchema.prefault({}),
  factors: factorsSchema.prefault({}),
  http: httpSchema.prefault({}),
  log: logSchema.prefault({}),
});

/** The validated configuration with every default filled in. */
export type Config = z.infer<typeof configSchema>;
export type GpuProbeChoice = Config['probes']['gpu'];
