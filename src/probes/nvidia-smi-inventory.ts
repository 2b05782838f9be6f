/**
 * GPU inventory from `nvidia-smi -q -x` through the `node-nvidia-smi` package (XML → xml2js with
 * `explicitArray: false`). Accepts every power-element generation seen in real captures
 * (research/hardware.md §2.3): `<power_readings><power_draw>` (≤ 525), `<gpu_power_readings>
 * <power_draw>` + `<current_power_limit>` (535–555), `<average_power_draw>`/`<instant_power_draw>`
 * (≥ 570, also under a v12 DTD). Keyed on element presence, never on the DTD version.
 */
import { access, constants, mkdtemp, rm, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { describeError, ProbeError } from '../errors.js';
import {
  bigintFromDecimal,
  bytesFromMebibytes,
  type MilliWatts,
  milliWattsFromDecimalWatts,
} from '../units.js';
import { categorizeUnavailable, type SmiCell } from './nvidia-smi-csv.js';

/** Power readings of one GPU as the XML reports them; which ones exist depends on the driver. */
export interface SmiXmlPower {
  /** `power_readings` (≤ 525) or `gpu_power_readings` (≥ 535). */
  readonly layout: 'power_readings' | 'gpu_power_readings';
  /** `P0`…`P12`, or e.g. `Requested functionality has been deprecated` (590+) as a reason. */
  readonly powerState: SmiCell<string> | undefined;
  /** `<power_draw>`: absent (undefined) from driver ~570 on. */
  readonly drawMilliWatts: SmiCell<MilliWatts> | undefined;
  readonly averageMilliWatts: SmiCell<MilliWatts> | undefined;
  readonly instantMilliWatts: SmiCell<MilliWatts> | undefined;
  /** `<enforced_power_limit>` (≤ 525) or `<current_power_limit>` (≥ 535). */
  readonly limitMilliWatts: SmiCell<MilliWatts> | undefined;
}

/** One `<gpu>` element. `index` is its position, which is NVML index order. */
export interface SmiInventoryGpu {
  readonly index: number;
  readonly uuid: string;
  readonly name: string;
  readonly serial: string | undefined;
  readonly pciBusId: string | undefined;
  readonly architecture: string | undefined;
  readonly memoryTotalBytes: bigint | undefined;
  readonly migMode: 'enabled' | 'disabled' | undefined;
  readonly migDeviceCount: number;
  readonly power: SmiXmlPower | undefined;
}

/** The whole `-q -x` document. */
export interface SmiInventory {
  readonly driverVersion: string | undefined;
  readonly cudaVersion: string | undefined;
  readonly gpus: readonly SmiInventoryGpu[];
  /** E.g. `attached_gpus` disagreeing with the number of `<gpu>` elements. */
  readonly notes: readonly string[];
}

type XmlNode = Record<string, unknown>;

function node(value: unknown): XmlNode | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as XmlNode)
    : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' && value !== 'N/A' ? value : undefined;
}

/** xml2js gives an object for one element and an array for several. */
function list(value: unknown): XmlNode[] {
  const items = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return items.map(node).filter((item): item is XmlNode => item !== undefined);
}

/** `"26.78 W"` → 26780 mW; `"N/A"`, `"Requested functionality has been deprecated"` → a reason. */
function watts(value: unknown): SmiCell<MilliWatts> | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\S+) W$/.exec(value);
  const milliWatts = match?.[1] === undefined ? null : milliWattsFromDecimalWatts(match[1]);
  if (milliWatts !== null) return { kind: 'value', value: milliWatts };
  return { kind: 'unavailable', reason: value, category: categorizeUnavailable(value) };
}

function pstate(value: unknown): SmiCell<string> | undefined {
  if (typeof value !== 'string') return undefined;
  if (/^P\d{1,2}$/.test(value)) return { kind: 'value', value };
  return { kind: 'unavailable', reason: value, category: categorizeUnavailable(value) };
}

function parsePower(gpu: XmlNode): SmiXmlPower | undefined {
  const modern = node(gpu.gpu_power_readings);
  const readings = modern ?? node(gpu.power_readings);
  if (!readings) return undefined;
  return {
    layout: modern ? 'gpu_power_readings' : 'power_readings',
    powerState: pstate(readings.power_state),
    drawMilliWatts: watts(readings.power_draw),
    averageMilliWatts: watts(readings.average_power_draw),
    instantMilliWatts: watts(readings.instant_power_draw),
    limitMilliWatts: watts(readings.enforced_power_limit ?? readings.current_power_limit),
  };
}

function parseMig(gpu: XmlNode): { mode: 'enabled' | 'disabled' | undefined; devices: number } {
  const current = text(node(gpu.mig_mode)?.current_mig);
  const mode = current === 'Enabled' ? 'enabled' : current === 'Disabled' ? 'disabled' : undefined;
  // `<mig_devices>None</mig_devices>` is the string "None"; otherwise `{ mig_device: … }`.
  return { mode, devices: list(node(gpu.mig_devices)?.mig_device).length };
}

function parseGpu(gpu: XmlNode, index: number): SmiInventoryGpu {
  const uuid = text(gpu.uuid);
  if (uuid === undefined) {
    throw new ProbeError('PROBE_PARSE_FAILED', `gpu ${index} in nvidia-smi -q -x output has no uuid`);
  }
  const memoryMiB = /^(\d+) MiB$/.exec(text(node(gpu.fb_memory_usage)?.total) ?? '')?.[1];
  const mebibytes = memoryMiB === undefined ? null : bigintFromDecimal(memoryMiB);
  const mig = parseMig(gpu);
  return {
    index,
    uuid,
    name: text(gpu.product_name) ?? 'unknown NVIDIA GPU',
    serial: text(gpu.serial),
    pciBusId: text(node(gpu.pci)?.pci_bus_id) ?? text(node(gpu.$)?.id),
    architecture: text(gpu.product_architecture),
    memoryTotalBytes: mebibytes === null ? undefined : bytesFromMebibytes(mebibytes),
    migMode: mig.mode,
    migDeviceCount: mig.devices,
    power: parsePower(gpu),
  };
}

/**
 * Turns node-nvidia-smi's result (`{ nvidia_smi_log: … }`) into an inventory. Pure. Throws
 * `ProbeError` `PROBE_PARSE_FAILED` when the document has no `nvidia_smi_log` or a GPU lacks a UUID.
 */
export function parseSmiXmlLog(data: unknown): SmiInventory {
  const log = node(node(data)?.nvidia_smi_log);
  if (!log)
    throw new ProbeError('PROBE_PARSE_FAILED', 'nvidia-smi -q -x output has no <nvidia_smi_log> element');
  const gpus = list(log.gpu).map(parseGpu);
  const notes: string[] = [];
  const attached = text(log.attached_gpus);
  if (attached !== undefined && attached !== String(gpus.length)) {
    notes.push(`nvidia-smi reports attached_gpus ${attached} but lists ${gpus.length} <gpu> elements`);
  }
  return { driverVersion: text(log.driver_version), cudaVersion: text(log.cuda_version), gpus, notes };
}

/** Options of {@link queryInventory}. */
export interface SmiInventoryOptions {
  readonly nvidiaSmiPath: string;
  /** Extra environment for the child (merged over `process.env` for the duration of the spawn). */
  readonly env?: Readonly<Record<string, string>>;
  /** Default 15 000 ms. */
  readonly timeoutMs?: number;
}

const HINT = 'set probes.nvidiaSmiPath to the nvidia-smi binary, or make NVML loadable';

type NodeNvidiaSmi = (callback: (error: unknown, data?: unknown) => void) => void;
// The package is CommonJS without type declarations; load it through require with our own type.
const nodeNvidiaSmi = createRequire(import.meta.url)('node-nvidia-smi') as NodeNvidiaSmi;

/**
 * Runs `nvidia-smi -q -x` via node-nvidia-smi and parses it. Throws `ProbeError`
 * `PROBE_UNAVAILABLE` (binary missing, non-zero exit, any stderr output), `PROBE_TIMEOUT`, or
 * `PROBE_PARSE_FAILED`. On timeout the child is not killed (the package does not expose it).
 */
export async function queryInventory(options: SmiInventoryOptions): Promise<SmiInventory> {
  const shim = await shimDirectory(options.nvidiaSmiPath);
  try {
    return parseSmiXmlLog(await runPackage(shim.dir, options));
  } finally {
    await shim.cleanup();
  }
}

function runPackage(pathDir: string, options: SmiInventoryOptions): Promise<unknown> {
  const { nvidiaSmiPath, env, timeoutMs = 15_000 } = options;
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      const message = `${nvidiaSmiPath} -q -x did not answer within ${timeoutMs} ms`;
      reject(new ProbeError('PROBE_TIMEOUT', message, { hint: HINT }));
    }, timeoutMs).unref();
    const done = (error: unknown, data?: unknown): void => {
      clearTimeout(timer);
      if (error === null || error === undefined) resolvePromise(data);
      else reject(unavailable(nvidiaSmiPath, error));
    };
    const path = `${pathDir}${delimiter}${process.env.PATH ?? ''}`;
    // LC_ALL=C as for the stream: decimal points in the watts we parse.
    withProcessEnv({ ...env, LC_ALL: 'C', PATH: path }, () => nodeNvidiaSmi(done));
  });
}

function unavailable(nvidiaSmiPath: string, error: unknown): ProbeError {
  // node-nvidia-smi passes the stderr *string* as the error when the exit status was 0.
  const detail =
    typeof error === 'string' ? `wrote to stderr: ${error.trim().slice(0, 300)}` : describeError(error);
  return new ProbeError('PROBE_UNAVAILABLE', `${nvidiaSmiPath} -q -x failed: ${detail}`, {
    cause: error,
    hint: HINT,
  });
}

/**
 * node-nvidia-smi runs `exec('nvidia-smi -q -x')`, which looks the binary up on `PATH` and takes
 * the environment from `process.env`. `exec` copies the environment synchronously while spawning,
 * so we set the variables, call the package, and restore them before returning: no other code can
 * run in between (one thread), and the asynchronous rest of the call sees the original values.
 */
function withProcessEnv(vars: Readonly<Record<string, string>>, call: () => void): void {
  const saved = new Map(Object.keys(vars).map((key) => [key, process.env[key]]));
  Object.assign(process.env, vars);
  try {
    call();
  } finally {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/**
 * A directory to put first on `PATH` so that `nvidia-smi` resolves to the configured binary:
 * its own directory when it is named `nvidia-smi`, else a private temporary directory holding a
 * symlink `nvidia-smi` → the binary. Throws `PROBE_UNAVAILABLE` when the binary is not executable.
 */
async function shimDirectory(nvidiaSmiPath: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const noCleanup = async (): Promise<void> => {};
  const target = nvidiaSmiPath.includes('/') ? resolve(nvidiaSmiPath) : await findOnPath(nvidiaSmiPath);
  try {
    if (target === undefined) throw new Error('not found on PATH');
    await access(target, constants.X_OK);
  } catch (error) {
    const message = `nvidia-smi not found or not executable at ${nvidiaSmiPath}: ${describeError(error)}`;
    throw new ProbeError('PROBE_UNAVAILABLE', message, { cause: error, hint: HINT });
  }
  if (basename(target) === 'nvidia-smi') return { dir: dirname(target), cleanup: noCleanup };
  const dir = await mkdtemp(join(tmpdir(), 'wattledger-smi-'));
  await symlink(target, join(dir, 'nvidia-smi'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '')) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory; keep looking
    }
  }
  return undefined;
}
