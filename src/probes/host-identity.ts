/**
 * Who measured: the host facts that go into signed batches, read through `systeminformation`.
 *
 * Every value is a plain trimmed string, or absent. Placeholders that firmware or the library put
 * in place of a real value (`-`, `Default string`, `To be filled by O.E.M.`, an all-zero UUID,
 * `Docker Container` for the model) are dropped rather than recorded, so an identity never carries
 * a fake value.
 *
 * `hostId` is chosen in this order, and `hostIdSource` says which one was used:
 * 1. `system-uuid`: the SMBIOS system UUID, lowercased;
 * 2. `machine-id`: derived from `/etc/machine-id`, never the raw value, because machine-id(5) says
 *    it is confidential and must be hashed with an application key first. The derivation is
 *    systemd's `sd_id128_get_machine_app_specific()`, so an operator can reproduce it with
 *    `systemd-id128 machine-id --app-specific=eaf739f9c5684e4fbb9f62d7c8b4de81 --uuid`;
 * 3. `hostname`.
 * A timed-out fact can move a host down this list, so callers should log the notes.
 */
import { createHmac } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import type { Systeminformation } from 'systeminformation';

/** Which fact `hostId` came from. */
export type HostIdSource = 'system-uuid' | 'machine-id' | 'hostname';

/** The host facts recorded with every batch. Absent means unknown, never a guess. */
export interface HostIdentity {
  readonly hostId: string;
  readonly hostIdSource: HostIdSource;
  readonly hostname?: string;
  readonly systemUuid?: string;
  readonly systemSerial?: string;
  readonly systemManufacturer?: string;
  readonly systemModel?: string;
  /** Hypervisor named by systeminformation (`KVM`, `VMware`) when it detected one. */
  readonly virtualHost?: string;
  readonly cpuManufacturer?: string;
  readonly cpuBrand?: string;
  readonly cpuFamily?: string;
  readonly cpuModel?: string;
  /** Logical CPUs, as a decimal string. */
  readonly cpuLogicalCores?: string;
  readonly cpuPhysicalCores?: string;
  readonly osPlatform?: string;
  readonly osDistro?: string;
  readonly osRelease?: string;
  readonly kernelRelease?: string;
  readonly arch?: string;
}

/**
 * The four `systeminformation` calls this module uses. Tests pass a stand-in at this library
 * boundary to simulate containers and hangs; production uses the real package.
 */
export interface HostFactsSource {
  system(): Promise<Partial<Systeminformation.SystemData>>;
  uuid(): Promise<Partial<Systeminformation.UuidData>>;
  osInfo(): Promise<Partial<Systeminformation.OsData>>;
  cpu(): Promise<Partial<Systeminformation.CpuData>>;
}

/** Options of {@link readHostIdentity}. */
export interface HostIdentityOptions {
  /** Upper bound for all lookups together; late facts are left absent. Default 5000 ms. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Receives one line per fact that failed or timed out. */
  readonly onNote?: (note: string) => void;
  /** Defaults to the `systeminformation` package. */
  readonly source?: HostFactsSource;
}

/** systemd app id for the machine-id derivation; fixed forever, or every hostId changes. */
const MACHINE_ID_APP_ID = 'eaf739f9c5684e4fbb9f62d7c8b4de81';
const DEFAULT_TIMEOUT_MS = 5000;
const MAX_VALUE_CHARS = 256;
const PLACEHOLDERS = new Set([
  ...['', '-', 'n/a', 'na', 'none', 'null', 'unknown', 'default', 'default string', 'not specified'],
  ...['not applicable', 'not available', 'to be filled by o.e.m.', 'to be filled by oem', 'o.e.m.', 'oem'],
  ...['system serial number', 'system product name', 'system manufacturer', 'system version', '0'],
  ...['0123456789', 'chassis serial number', 'type1productconfigid'],
]);
/** Models that systeminformation makes up when firmware says nothing. */
const SYNTHESIZED_MODELS = new Set(['computer', 'docker container', 'virtual machine']);
/** Well-known firmware UUIDs shared by many boards (AMI default), useless as an identity. */
const SHARED_UUIDS = new Set([
  '03000200-0400-0500-0006-000700080009',
  '00020003-0004-0005-0006-000700080009',
]);
const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Reads the host identity. Never throws for missing information: a failed or late lookup leaves
 * its fields absent and produces a note; `hostId` falls back to the hostname at worst.
 */
export async function readHostIdentity(options: HostIdentityOptions = {}): Promise<HostIdentity> {
  const note = options.onNote ?? (() => undefined);
  const source = options.source ?? (await loadSystemInformation(note));
  const deadline = makeDeadline(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, options.signal);
  try {
    const [system, uuid, os, cpu] = await Promise.all([
      settle('system', () => source?.system(), deadline.promise, note),
      settle('uuid', () => source?.uuid(), deadline.promise, note),
      settle('osInfo', () => source?.osInfo(), deadline.promise, note),
      settle('cpu', () => source?.cpu(), deadline.promise, note),
    ]);
    return hostIdentityFromFacts({ system, uuid, os, cpu, fallbackHostname: osHostname() });
  } finally {
    deadline.cancel();
  }
}

/** The raw facts one read gathered; any of them may be missing. */
export interface HostFacts {
  readonly system?: Partial<Systeminformation.SystemData> | undefined;
  readonly uuid?: Partial<Systeminformation.UuidData> | undefined;
  readonly os?: Partial<Systeminformation.OsData> | undefined;
  readonly cpu?: Partial<Systeminformation.CpuData> | undefined;
  /** `os.hostname()`, used when systeminformation gave none. */
  readonly fallbackHostname?: string;
}

/** Turns raw facts into a {@link HostIdentity}: drops placeholders and picks `hostId`. Pure. */
export function hostIdentityFromFacts(facts: HostFacts): HostIdentity {
  const { system, os, cpu } = facts;
  const hostname = clean(os?.hostname) ?? clean(facts.fallbackHostname);
  const systemUuid = cleanUuid(system?.uuid) ?? cleanUuid(facts.uuid?.hardware);
  const machineId = cleanMachineId(facts.uuid?.os);
  const model = clean(system?.model);
  const fields: Record<string, string | undefined> = {
    hostname,
    systemUuid,
    systemSerial: clean(system?.serial),
    systemManufacturer: clean(system?.manufacturer),
    systemModel: model && !SYNTHESIZED_MODELS.has(model.toLowerCase()) ? model : undefined,
    virtualHost: system?.virtual ? clean(system.virtualHost) : undefined,
    cpuManufacturer: clean(cpu?.manufacturer),
    cpuBrand: clean(cpu?.brand),
    cpuFamily: clean(cpu?.family),
    cpuModel: clean(cpu?.model),
    cpuLogicalCores: countText(cpu?.cores),
    cpuPhysicalCores: countText(cpu?.physicalCores),
    osPlatform: clean(os?.platform),
    osDistro: clean(os?.distro),
    osRelease: clean(os?.release),
    kernelRelease: clean(os?.kernel),
    arch: clean(os?.arch),
  };
  const present = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
  const id = chooseHostId(systemUuid, machineId, hostname);
  return Object.freeze({ hostId: id.hostId, hostIdSource: id.hostIdSource, ...present }) as HostIdentity;
}

function chooseHostId(
  systemUuid: string | undefined,
  machineId: string | undefined,
  hostname: string | undefined,
): { hostId: string; hostIdSource: HostIdSource } {
  if (systemUuid) return { hostId: systemUuid, hostIdSource: 'system-uuid' };
  if (machineId) return { hostId: appSpecificMachineId(machineId), hostIdSource: 'machine-id' };
  // os.hostname() always answers, so this is the floor; an empty name is still not invented.
  return { hostId: hostname ?? '', hostIdSource: 'hostname' };
}

/**
 * systemd's `sd_id128_get_machine_app_specific()`: HMAC-SHA256 keyed with the 16 machine-id
 * bytes over the 16 app-id bytes, first 16 bytes of the MAC, marked as a v4 UUID.
 */
export function appSpecificMachineId(machineIdHex: string): string {
  const mac = createHmac('sha256', Buffer.from(machineIdHex, 'hex'))
    .update(Buffer.from(MACHINE_ID_APP_ID, 'hex'))
    .digest()
    .subarray(0, 16);
  mac[6] = (mac[6]! & 0x0f) | 0x40;
  mac[8] = (mac[8]! & 0x3f) | 0x80;
  const hex = mac.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Trims, strips control characters (untrusted firmware text), drops placeholders. */
function clean(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  if (PLACEHOLDERS.has(text.toLowerCase())) return undefined;
  return text.slice(0, MAX_VALUE_CHARS);
}

function cleanUuid(value: unknown): string | undefined {
  const text = clean(value)?.toLowerCase();
  if (!text || !UUID_SHAPE.test(text) || SHARED_UUIDS.has(text)) return undefined;
  // All-zero and all-ones UUIDs are what unset SMBIOS fields read as.
  return /^[0-]+$/.test(text) || /^[f-]+$/.test(text) ? undefined : text;
}

function cleanMachineId(value: unknown): string | undefined {
  const text = clean(value)?.toLowerCase().replaceAll('-', '');
  return text && /^[0-9a-f]{32}$/.test(text) && !/^0+$/.test(text) ? text : undefined;
}

function countText(value: unknown): string | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? String(value) : undefined;
}

async function loadSystemInformation(note: (line: string) => void): Promise<HostFactsSource | undefined> {
  try {
    return await import('systeminformation');
  } catch (error) {
    note(`cannot load systeminformation: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

const TIMED_OUT = Symbol('timed-out');

function makeDeadline(timeoutMs: number, signal: AbortSignal | undefined) {
  let resolveDeadline: (value: typeof TIMED_OUT) => void = () => undefined;
  const promise = new Promise<typeof TIMED_OUT>((resolve) => {
    resolveDeadline = resolve;
  });
  const expire = () => resolveDeadline(TIMED_OUT);
  const timer = setTimeout(expire, timeoutMs);
  // Identity lookup must never keep the process alive on its own.
  timer.unref();
  signal?.addEventListener('abort', expire, { once: true });
  if (signal?.aborted) expire();
  const cancel = () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', expire);
  };
  return { promise, cancel };
}

/**
 * One lookup bounded by the shared deadline. systeminformation runs some commands with
 * `execSync`, which no timer can interrupt; the bound holds for everything asynchronous.
 */
async function settle<T>(
  what: string,
  call: () => Promise<T> | undefined,
  deadline: Promise<typeof TIMED_OUT>,
  note: (line: string) => void,
): Promise<T | undefined> {
  try {
    const result = await Promise.race([Promise.resolve().then(call), deadline]);
    if (result === TIMED_OUT)
      note(`systeminformation ${what}() did not answer in time; its facts are absent`);
    return result === TIMED_OUT ? undefined : result;
  } catch (error) {
    note(`systeminformation ${what}() failed: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}
