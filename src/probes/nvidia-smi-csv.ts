/**
 * Pure parser for `nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits` output. No I/O.
 *
 * nvidia-smi joins cells with `", "` and writes an unavailable value as `[<nvmlErrorString>]`
 * (`[N/A]`, `[Not Supported]`, `[Requested functionality has been deprecated]`, `[GPU is lost]`).
 * Those become typed {@link SmiUnavailable} cells, never 0 (see research/hardware.md §2.2).
 */
import {
  bigintFromDecimal,
  bytesFromMebibytes,
  type MilliWatts,
  milliWattsFromDecimalWatts,
} from '../units.js';

/** The query fields this parser understands, in the order the probe asks for them. */
export const SMI_FIELDS = [
  'timestamp',
  'index',
  'uuid',
  'name',
  'serial',
  'pci.bus_id',
  'power.draw.instant',
  'power.draw',
  'enforced.power.limit',
  'utilization.gpu',
  'memory.used',
  'memory.total',
  'mig.mode.current',
] as const;

/** One query field name. */
export type SmiField = (typeof SMI_FIELDS)[number];

/**
 * Fields every query must have: without them a row cannot be matched to a GPU or carry power.
 * Every other field may be dropped when a driver rejects it.
 */
export const SMI_REQUIRED_FIELDS: readonly SmiField[] = ['index', 'uuid', 'power.draw'];

/**
 * The list without `power.draw.instant`, for drivers that reject it (510 and older print
 * `Field "power.draw.instant" is not a valid field to query.` and exit non-zero).
 */
export const SMI_FIELDS_LEGACY: readonly SmiField[] = SMI_FIELDS.filter((f) => f !== 'power.draw.instant');

/** The field a driver rejected, from nvidia-smi's `Field "…" is not a valid field to query.` */
export function rejectedField(text: string): string | undefined {
  return /Field "([^"]+)" is not a valid field to query/i.exec(text)?.[1];
}

/** Why a cell holds no value, from the text inside the brackets. */
export type SmiUnavailableCategory = 'not-applicable' | 'not-supported' | 'gpu-lost' | 'error';

/** A cell nvidia-smi printed as `[<reason>]`. */
export interface SmiUnavailable {
  readonly kind: 'unavailable';
  /** The text inside the brackets, verbatim: `N/A`, `Not Supported`, `GPU is lost`. */
  readonly reason: string;
  readonly category: SmiUnavailableCategory;
}

/** A parsed cell: a value, or the reason there is none. */
export type SmiCell<T> = { readonly kind: 'value'; readonly value: T } | SmiUnavailable;

/**
 * One GPU row. Power in integer mW, memory in bytes, utilisation in whole percent. A field the
 * query did not ask for (a driver rejected it) is absent; only index, uuid and power.draw are always there.
 */
export interface SmiRow {
  /**
   * `timestamp`: when nvidia-smi took the row, host local wall time without a zone, as ms since
   * 1970 read as if it were UTC (`2026/07/03 22:10:46.109`). Only differences are meaningful.
   */
  readonly timestampMillis?: SmiCell<number>;
  readonly index: SmiCell<number>;
  readonly uuid: SmiCell<string>;
  readonly name?: SmiCell<string>;
  readonly serial?: SmiCell<string>;
  readonly pciBusId?: SmiCell<string>;
  /** Absent when the field list did not ask for `power.draw.instant` (old drivers). */
  readonly powerInstantMilliWatts?: SmiCell<MilliWatts>;
  /** `power.draw`: a 1 s average on Ampere and newer except GA100, instantaneous on older GPUs. */
  readonly powerDrawMilliWatts: SmiCell<MilliWatts>;
  readonly enforcedPowerLimitMilliWatts?: SmiCell<MilliWatts>;
  readonly utilizationGpuPercent?: SmiCell<number>;
  readonly memoryUsedBytes?: SmiCell<bigint>;
  readonly memoryTotalBytes?: SmiCell<bigint>;
  readonly migMode?: SmiCell<'enabled' | 'disabled'>;
}

/** What one line turned into: a row, nothing (blank or header), or a counted parse error. */
export type SmiLineResult =
  | { readonly kind: 'row'; readonly row: SmiRow }
  | { readonly kind: 'skip' }
  | { readonly kind: 'error'; readonly message: string; readonly line: string };

/** Maps the text inside `[...]` to a category; nvmlErrorString texts vary, so match loosely. */
export function categorizeUnavailable(reason: string): SmiUnavailableCategory {
  const text = reason.toLowerCase();
  if (text === 'n/a') return 'not-applicable';
  if (text === 'not supported' || text.includes('deprecated') || text === 'function not found') {
    return 'not-supported';
  }
  // NVML_ERROR_GPU_IS_LOST ("GPU is lost") and NVML_ERROR_RESET_REQUIRED both mean the GPU is gone.
  if (text.includes('lost') || text.includes('reset')) return 'gpu-lost';
  return 'error';
}

const BRACKETED = /^\[(.*)\]$/;
const UUID = /^GPU-[0-9A-Fa-f-]{8,}$/;
const PCI_BUS_ID = /^[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]$/;
const SMALL_UINT = /^\d{1,6}$/;

/** Thrown only inside this module, turned into an `error` line result. */
class CellError extends Error {}

type Decoder<T> = (text: string, field: SmiField) => T;

function cell<T>(text: string, field: SmiField, decode: Decoder<T>): SmiCell<T> {
  const bracket = BRACKETED.exec(text);
  if (bracket) {
    const reason = bracket[1] ?? '';
    return { kind: 'unavailable', reason, category: categorizeUnavailable(reason) };
  }
  return { kind: 'value', value: decode(text, field) };
}

function fail(field: SmiField, text: string, expected: string): never {
  throw new CellError(`field ${field}: expected ${expected}, found ${JSON.stringify(text.slice(0, 40))}`);
}

const decodeUint: Decoder<number> = (text, field) =>
  SMALL_UINT.test(text) ? Number(text) : fail(field, text, 'an integer');
const decodeText: Decoder<string> = (text, field) => (text.length > 0 ? text : fail(field, text, 'text'));
const decodeUuid: Decoder<string> = (text, field) =>
  UUID.test(text) ? text : fail(field, text, 'a GPU UUID');
const decodeBusId: Decoder<string> = (text, field) =>
  PCI_BUS_ID.test(text) ? text : fail(field, text, 'a PCI bus id');
const decodeWatts: Decoder<MilliWatts> = (text, field) =>
  milliWattsFromDecimalWatts(text) ?? fail(field, text, 'decimal watts');
const decodePercent: Decoder<number> = (text, field) => {
  const value = decodeUint(text, field);
  return value <= 100 ? value : fail(field, text, 'a percentage');
};
const decodeMebibytes: Decoder<bigint> = (text, field) => {
  const mebibytes = bigintFromDecimal(text);
  return mebibytes === null ? fail(field, text, 'MiB') : bytesFromMebibytes(mebibytes);
};
const TIMESTAMP = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{3})$/;
const decodeTimestamp: Decoder<number> = (text, field) => {
  const m = TIMESTAMP.exec(text);
  if (!m) return fail(field, text, 'YYYY/MM/DD HH:MM:SS.mmm');
  const [year, month, day, hour, minute, second, millis] = m.slice(1).map(Number) as number[];
  return Date.UTC(year ?? 0, (month ?? 1) - 1, day, hour, minute, second, millis);
};
const decodeMig: Decoder<'enabled' | 'disabled'> = (text, field) => {
  if (text === 'Enabled') return 'enabled';
  if (text === 'Disabled') return 'disabled';
  return fail(field, text, 'Enabled or Disabled');
};

/** `true` for a header line (`index, uuid, power.draw [W]`), which loop mode may repeat. */
function isHeader(cells: readonly string[], fields: readonly SmiField[]): boolean {
  return cells.length === fields.length && cells.every((c, i) => c.replace(/ \[[^\]]*\]$/, '') === fields[i]);
}

function buildRow(get: (field: SmiField) => string, has: (field: SmiField) => boolean): SmiRow {
  const optional = <T>(field: SmiField, decode: Decoder<T>): SmiCell<T> | undefined =>
    has(field) ? cell(get(field), field, decode) : undefined;
  const row = {
    timestampMillis: optional('timestamp', decodeTimestamp),
    index: cell(get('index'), 'index', decodeUint),
    uuid: cell(get('uuid'), 'uuid', decodeUuid),
    name: optional('name', decodeText),
    serial: optional('serial', decodeText),
    pciBusId: optional('pci.bus_id', decodeBusId),
    powerInstantMilliWatts: optional('power.draw.instant', decodeWatts),
    powerDrawMilliWatts: cell(get('power.draw'), 'power.draw', decodeWatts),
    enforcedPowerLimitMilliWatts: optional('enforced.power.limit', decodeWatts),
    utilizationGpuPercent: optional('utilization.gpu', decodePercent),
    memoryUsedBytes: optional('memory.used', decodeMebibytes),
    memoryTotalBytes: optional('memory.total', decodeMebibytes),
    migMode: optional('mig.mode.current', decodeMig),
  };
  // exactOptionalPropertyTypes: fields not queried are absent, not undefined.
  return Object.fromEntries(Object.entries(row).filter(([, v]) => v !== undefined)) as unknown as SmiRow;
}

/**
 * Parses one output line for the given field list (which must contain every field of
 * {@link SMI_REQUIRED_FIELDS}; the others are optional). Never throws: a wrong field count or
 * an undecodable cell is an `error` result the caller counts; blank and header lines are `skip`.
 */
export function parseSmiCsvLine(line: string, fields: readonly SmiField[]): SmiLineResult {
  const text = line.replace(/\r$/, '');
  if (text.trim() === '') return { kind: 'skip' };
  const cells = text.split(', ').map((c) => c.trim());
  if (isHeader(cells, fields)) return { kind: 'skip' };
  if (cells.length !== fields.length) {
    return { kind: 'error', message: `expected ${fields.length} fields, found ${cells.length}`, line: text };
  }
  const byField = new Map<SmiField, string>(fields.map((f, i) => [f, cells[i] ?? '']));
  const get = (field: SmiField): string => {
    const value = byField.get(field);
    if (value === undefined) throw new CellError(`field ${field} is not in the query field list`);
    return value;
  };
  try {
    return { kind: 'row', row: buildRow(get, (field) => byField.has(field)) };
  } catch (error) {
    if (!(error instanceof CellError)) throw error;
    return { kind: 'error', message: error.message, line: text };
  }
}

/** Parses a whole output text (one-shot mode); rows and parse errors in line order. */
export function parseSmiCsv(
  text: string,
  fields: readonly SmiField[],
): { readonly rows: readonly SmiRow[]; readonly errors: readonly { message: string; line: string }[] } {
  const rows: SmiRow[] = [];
  const errors: { message: string; line: string }[] = [];
  for (const line of text.split('\n')) {
    const result = parseSmiCsvLine(line, fields);
    if (result.kind === 'row') rows.push(result.row);
    else if (result.kind === 'error') errors.push({ message: result.message, line: result.line });
  }
  return { rows, errors };
}

/** Longest line kept; anything longer without a newline is garbage, dropped and counted. */
const MAX_LINE_CHARS = 65_536;

/**
 * Splits chunked output into lines: tolerates bursts (block-buffered stdout delivers many rows
 * at once) and rows split across chunks. `flush()` hands on a final line without a newline.
 */
export class LineSplitter {
  private partial = '';
  constructor(private readonly onLine: (line: string) => void) {}
  push(chunk: string): void {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    // An endless line would grow without bound; hand a prefix on so it is counted as garbage.
    if (this.partial.length > MAX_LINE_CHARS) {
      parts.push(this.partial.slice(0, 200));
      this.partial = '';
    }
    for (const line of parts) this.onLine(line);
  }
  flush(): void {
    if (this.partial !== '') this.onLine(this.partial);
    this.partial = '';
  }
}

/** The value of a cell, or `undefined` when nvidia-smi printed a reason instead. */
export function cellValue<T>(value: SmiCell<T> | undefined): T | undefined {
  return value?.kind === 'value' ? value.value : undefined;
}
