/**
 * Every name, unit and bucket boundary wattledger puts on the wire through OTLP, in one place so
 * that docs/EXPORT.md, the tests and the code cannot drift apart.
 *
 * `hw.*` and `gen_ai.*` names are OpenTelemetry semantic conventions (hardware: semconv v1.44,
 * Development stability; GenAI: the last in-repo version before the move to
 * `semantic-conventions-genai`). They are copied here rather than imported from
 * `@opentelemetry/semantic-conventions/incubating`, as that package advises for unstable names:
 * an incubating rename must not silently change what we export. Everything that has no semantic
 * convention uses our own `wattledger.` prefix (the naming rule forbids inventing `hw.*`/`gen_ai.*`).
 */

/** Hardware metrics (semconv `hw.*`). */
export const METRIC_HW_ENERGY = 'hw.energy';
export const METRIC_HW_POWER = 'hw.power';
export const METRIC_HW_GPU_UTILIZATION = 'hw.gpu.utilization';

/** GenAI server metrics (semconv `gen_ai.server.*`). */
export const METRIC_GEN_AI_SERVER_REQUEST_DURATION = 'gen_ai.server.request.duration';
export const METRIC_GEN_AI_SERVER_TIME_TO_FIRST_TOKEN = 'gen_ai.server.time_to_first_token';

/** Ours: energy of one request, per boundary. No semantic convention exists (standards.md §2.3). */
export const METRIC_REQUEST_ENERGY = 'wattledger.request.energy';
/** Ours: CO2e of one request, per boundary and basis (location; market when configured). */
export const METRIC_REQUEST_CO2E = 'wattledger.request.co2e';
/** Ours: water of one request (on-site + off-site), per boundary; only when both parts are known. */
export const METRIC_REQUEST_WATER = 'wattledger.request.water';

/** Ours: spans received by OTLP span intake, by what became of each (`wattledger.span.outcome`). */
export const METRIC_SPANS_RECEIVED = 'wattledger.spans.received';

/** UCUM units as the conventions spell them. */
export const UNIT_JOULE = 'J';
export const UNIT_WATT = 'W';
export const UNIT_RATIO = '1';
export const UNIT_SECOND = 's';
/**
 * Grams of CO2e. standards.md §4.2 suggests the UCUM annotation `g{CO2e}`, but Prometheus'
 * translators drop the unit suffix of any unit with braces; the metric name already says CO2e.
 */
export const UNIT_GRAM = 'g';
/** Litres (UCUM `L`). */
export const UNIT_LITER = 'L';
/** A count of spans (UCUM annotation; Prometheus drops it from the name). */
export const UNIT_SPAN = '{span}';

/** Attribute keys. */
export const ATTR_HW_ID = 'hw.id';
export const ATTR_HW_TYPE = 'hw.type';
export const ATTR_HW_NAME = 'hw.name';
export const ATTR_HW_VENDOR = 'hw.vendor';
export const ATTR_HW_MODEL = 'hw.model';
export const ATTR_HW_DRIVER_VERSION = 'hw.driver_version';
export const ATTR_HW_GPU_TASK = 'hw.gpu.task';
export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const ATTR_GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name';
export const ATTR_GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_SIMULATED = 'wattledger.simulated';
export const ATTR_ENGINE_ID = 'wattledger.engine.id';
/** `active` (accelerators while working) or `comprehensive` (+ idle share, host, PUE); never mixed. */
export const ATTR_ENERGY_BOUNDARY = 'wattledger.energy.boundary';
/** `location` (grid average of the zone) or `market` (operator's contractual factor); never added. */
export const ATTR_CO2E_BASIS = 'wattledger.co2e.basis';
/** What span intake did with a span: `request`, `joined_*`, `duplicate`, `ignored`, `rejected`. */
export const ATTR_SPAN_OUTCOME = 'wattledger.span.outcome';
export const ATTR_BATCH_SEQUENCE = 'wattledger.batch.sequence';
export const ATTR_LOG_ORIGIN = 'wattledger.log.origin';
export const ATTR_CHECKPOINT_TREE_SIZE = 'wattledger.checkpoint.tree_size';

/** Log event names. */
export const EVENT_BATCH_SIGNED = 'wattledger.batch.signed';
export const EVENT_CHECKPOINT = 'wattledger.checkpoint';

/** Instrumentation scope names. */
export const SCOPE_METER = 'wattledger.meter';
export const SCOPE_LEDGER = 'wattledger.ledger';

/** semconv: `gen_ai.server.request.duration` SHOULD use these explicit bucket boundaries (s). */
export const BUCKETS_REQUEST_DURATION_SECONDS: readonly number[] = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/** semconv: `gen_ai.server.time_to_first_token` SHOULD use these explicit bucket boundaries (s). */
export const BUCKETS_TIME_TO_FIRST_TOKEN_SECONDS: readonly number[] = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/**
 * Ours, for `wattledger.request.energy` (J): roughly ×2.5 steps from 1 mJ (an embedding on an
 * idle-ish GPU) to 100 kJ (a long generation across a tensor-parallel engine), so both ends keep
 * resolution with 20 buckets.
 */
export const BUCKETS_REQUEST_ENERGY_JOULES: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500,
  5000, 10000, 25000, 100000,
];

/**
 * Ours, for `wattledger.request.co2e` (g): the energy buckets' range (1 mJ to 100 kJ) at grid
 * intensities of 20–1000 g/kWh and PUE 1–2 spans about 5 ng to 60 g; ×2–2.5 steps per decade.
 */
export const BUCKETS_REQUEST_CO2E_GRAMS: readonly number[] = [
  1e-8, 2.5e-8, 5e-8, 1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 0.001,
  0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 100,
];

/**
 * Ours, for `wattledger.request.water` (L): on-site WUE plus off-site EWIF of roughly 0.1–10 L/kWh
 * over the same energy range spans about 0.03 nL to 0.5 L.
 */
export const BUCKETS_REQUEST_WATER_LITERS: readonly number[] = [
  1e-10, 2.5e-10, 5e-10, 1e-9, 2.5e-9, 5e-9, 1e-8, 2.5e-8, 5e-8, 1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5,
  2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
];
