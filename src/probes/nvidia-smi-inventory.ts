/**
 * GPU inventory from `nvidia-smi -q -x` (our own child process, parsed by xml2js with
 * `explicitArray: false, trim: true`, the options node-nvidia-smi used; see docs/MEASUREMENT.md for
 * why that package was replaced). Accepts every power-element generation seen in real captures
 * (research/hardware.md §2.3): `<power_readings><power_draw>` (≤ 525), `<gpu_power_readings>
 * <power_draw>` + `<current_power_limit>` (535–555), `<average_power_draw>`/`<instant_power_draw>`
 * (≥ 570, also under a v12 DTD). Keyed on element presence, never on the DTD version.
 */
import { createRequire } from 'node:module';
import { describeError, ProbeError } from '../errors.js';
import {
  bigintFromDecimal,
  bytesFromMebibytes,
  type MilliWatts,
  milliWattsFromDecimalWatts,
} from '../units.js';
import { categorizeUnavailable, type SmiCell } from './nvidia-smi-csv.js';
import { runSmiOnce } from './nvidia-smi-run.js';

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
  /** Extra environment for the child, merged over `process.env`. */
  readonly env?: Readonly<Record<string, string>>;
  /** Default 15 000 ms; then the child and its process group are killed. */
  readonly timeoutMs?: number;
  /** Largest document accepted (default 64 MiB; 16 Blackwell GPUs print about 2 MiB). */
  readonly maxOutputBytes?: number;
}

const HINT = 'set probes.nvidiaSmiPath to the nvidia-smi binary, or make NVML loadable';

type ParseString = (
  xml: string,
  options: { explicitArray: boolean; trim: boolean },
  callback: (error: Error | null, result: unknown) => void,
) => void;
// xml2js is CommonJS without type declarations; load it through require with our own type.
const { parseString } = createRequire(import.meta.url)('xml2js') as { parseString: ParseString };

/**
 * Runs `nvidia-smi -q -x` and parses it. Stderr output with exit status 0 and a complete document
 * (an infoROM warning) is kept as a note, not a failure. Throws `ProbeError` `PROBE_UNAVAILABLE`
 * (binary missing, non-zero exit), `PROBE_TIMEOUT` (the child and its process group are killed),
 * or `PROBE_PARSE_FAILED` (not XML, no `<nvidia_smi_log>`, a GPU without UUID, too large).
 */
export async function queryInventory(options: SmiInventoryOptions): Promise<SmiInventory> {
  const { nvidiaSmiPath, env, timeoutMs = 15_000, maxOutputBytes = 64 * 1024 * 1024 } = options;
  const result = await runSmiOnce({
    nvidiaSmiPath,
    args: ['-q', '-x'],
    timeoutMs,
    maxOutputBytes,
    ...(env ? { env } : {}),
  });
  const command = `${nvidiaSmiPath} -q -x`;
  if (result.kind === 'spawn-failed') {
    const message = `nvidia-smi not found or not executable at ${nvidiaSmiPath}: ${result.message}`;
    throw new ProbeError('PROBE_UNAVAILABLE', message, { hint: HINT });
  }
  if (result.kind === 'timeout') {
    const message = `${command} did not answer within ${timeoutMs} ms; killed it (process group ${result.pid})`;
    throw new ProbeError('PROBE_TIMEOUT', message, { hint: HINT });
  }
  if (result.kind === 'too-large') {
    const message = `${command} printed more than ${maxOutputBytes} bytes; refused to parse it`;
    throw new ProbeError('PROBE_PARSE_FAILED', message, { hint: HINT });
  }
  const stderr = result.stderr.trim();
  if (result.code !== 0) {
    const detail = stderr === '' ? firstLine(result.stdout) : stderr.slice(0, 300);
    const status = result.code === null ? `signal ${result.signal}` : `exit status ${result.code}`;
    throw new ProbeError('PROBE_UNAVAILABLE', `${command} failed with ${status}: ${detail}`, { hint: HINT });
  }
  const inventory = parseSmiXmlLog(await parseXml(result.stdout, command));
  if (stderr === '') return inventory;
  const note = `${command} wrote to stderr (exit status 0, document complete): ${stderr.slice(0, 300)}`;
  return { ...inventory, notes: [...inventory.notes, note] };
}

function parseXml(xml: string, command: string): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    parseString(xml, { explicitArray: false, trim: true }, (error, data) => {
      if (!error) resolvePromise(data);
      else {
        const message = `${command} printed no valid XML: ${describeError(error).slice(0, 200)}`;
        reject(new ProbeError('PROBE_PARSE_FAILED', message, { cause: error, hint: HINT }));
      }
    });
  });
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.slice(0, 300) ?? '';
}
