/**
 * Decoding of OTLP export requests for test receivers, with the official opentelemetry-proto
 * definitions: `otlp-official-proto` is an npm alias of `@opentelemetry/otlp-transformer@0.203.0`,
 * whose `build/src/generated/root.js` is the protobufjs static module generated from the
 * opentelemetry-proto `.proto` files (collector, common, resource, metrics, logs, trace v1). Later
 * otlp-transformer releases, like the SDK we ship, serialize by hand, so the decoder stays
 * independent of the code that encodes our requests, which is the point.
 *
 * Both encodings come out in one shape, OTLP/JSON's (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
 * lowerCamelCase keys, 64-bit integers as decimal strings, enums as integers, `traceId`/`spanId`/
 * `parentSpanId` as lowercase hex, other bytes as base64; fields the sender left unset are absent.
 *
 * JSON is checked more strictly than a collector would: the request must convert into the official
 * message types and back without loss (`fromObject` → `verify` → `toObject`). Unknown fields, which
 * a collector ignores, and values of the wrong type, which protobufjs would coerce, are reported, so
 * a typo in what we send fails a test instead of vanishing. OTLP/JSON's own rules are honoured:
 * int64 as string or number, hex ids, integer enums, `null` for a default value.
 */
import { createRequire } from 'node:module';
import type { IConversionOptions } from 'protobufjs';

/** The signals of OTLP/HTTP: `/v1/metrics`, `/v1/logs`, `/v1/traces`. */
export type OtlpSignal = 'metrics' | 'logs' | 'traces';
export type OtlpEncoding = 'json' | 'protobuf';
/** The OTLP/JSON shape both encodings are turned into (loosely typed: it is test input). */
// biome-ignore lint/suspicious/noExplicitAny: decoded wire data, checked by the assertions
export type OtlpRequest = Record<string, any>;

/** The static methods of a protobufjs generated message class that are used here. */
interface GeneratedMessageType {
  decode(bytes: Uint8Array): object;
  fromObject(object: Record<string, unknown>): object;
  verify(message: object): string | null;
  toObject(message: object, options: IConversionOptions): Record<string, unknown>;
}

const otlpProto = createRequire(import.meta.url)('otlp-official-proto/build/src/generated/root.js')
  .opentelemetry.proto;

/** `opentelemetry.proto.collector.<signal>.v1.Export<Signal>ServiceRequest`. */
const REQUEST_TYPE: Readonly<Record<OtlpSignal, GeneratedMessageType>> = {
  metrics: otlpProto.collector.metrics.v1.ExportMetricsServiceRequest,
  logs: otlpProto.collector.logs.v1.ExportLogsServiceRequest,
  traces: otlpProto.collector.trace.v1.ExportTraceServiceRequest,
};

/** The `bytes` fields OTLP/JSON writes as hex rather than base64 (Span, Link, LogRecord, Exemplar). */
const HEX_ID_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId']);

/** A request that is not a valid OTLP export request; the receiver answers 400 with the message. */
export class OtlpDecodeError extends Error {
  override readonly name = 'OtlpDecodeError';
}

/** Decodes one request body of `signal` into the OTLP/JSON shape; throws {@link OtlpDecodeError}. */
export function decodeOtlpRequest(signal: OtlpSignal, body: Uint8Array, encoding: OtlpEncoding): OtlpRequest {
  return encoding === 'protobuf' ? decodeProtobuf(signal, body) : decodeJson(signal, body);
}

/** `ExportTraceServiceRequest` (`/v1/traces`) in either encoding; throws {@link OtlpDecodeError}. */
export function decodeTraceRequest(body: Uint8Array, encoding: OtlpEncoding): OtlpRequest {
  return decodeOtlpRequest('traces', body, encoding);
}

const WIRE_OPTIONS: IConversionOptions = { longs: String, enums: Number, bytes: String };

function decodeProtobuf(signal: OtlpSignal, body: Uint8Array): OtlpRequest {
  const type = REQUEST_TYPE[signal];
  let message: object;
  try {
    message = type.decode(body);
  } catch (error) {
    throw new OtlpDecodeError(`not a protobuf ${signal} export request: ${(error as Error).message}`);
  }
  const problem = type.verify(message);
  if (problem !== null) throw new OtlpDecodeError(`invalid ${signal} export request: ${problem}`);
  return hexIds(type.toObject(message, WIRE_OPTIONS)) as OtlpRequest;
}

function decodeJson(signal: OtlpSignal, body: Uint8Array): OtlpRequest {
  const type = REQUEST_TYPE[signal];
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch (error) {
    throw new OtlpDecodeError(`not JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(parsed)) throw new OtlpDecodeError(`a ${signal} export request must be a JSON object`);
  const wire = base64Ids(parsed, '') as Record<string, unknown>;
  let message: object;
  try {
    message = type.fromObject(wire);
  } catch (error) {
    throw new OtlpDecodeError(`invalid ${signal} export request: ${(error as Error).message}`);
  }
  const problem = type.verify(message);
  if (problem !== null) throw new OtlpDecodeError(`invalid ${signal} export request: ${problem}`);
  // Compared with empty repeated fields kept (`"attributes": []` is valid); the same conversion
  // with longs as numbers tells int64 fields (string or number in JSON) from string fields.
  const converted = type.toObject(message, { ...WIRE_OPTIONS, arrays: true });
  const longsAsNumbers = type.toObject(message, { ...WIRE_OPTIONS, arrays: true, longs: Number });
  const difference = firstDifference(wire, converted, longsAsNumbers, '');
  if (difference !== null) throw new OtlpDecodeError(`invalid ${signal} export request: ${difference}`);
  return hexIds(type.toObject(message, WIRE_OPTIONS)) as OtlpRequest;
}

/**
 * Where the JSON `input` and its conversion through the official types disagree, or `null`.
 * `longsAsNumbers` is the same conversion with int64 as numbers: where it holds a number and
 * `output` a string, the field is an int64, which OTLP/JSON accepts as a string or a number.
 */
function firstDifference(
  input: unknown,
  output: unknown,
  longsAsNumbers: unknown,
  path: string,
): string | null {
  if (Array.isArray(input)) {
    if (!Array.isArray(output) || output.length !== input.length) return `${path}: not a repeated field`;
    for (const [i, item] of input.entries()) {
      const found = firstDifference(item, output[i], (longsAsNumbers as unknown[])[i], `${path}[${i}]`);
      if (found !== null) return found;
    }
    return null;
  }
  if (isPlainObject(input)) {
    if (!isPlainObject(output)) return `${path}: an object where the definition has a scalar`;
    for (const [key, value] of Object.entries(input)) {
      if (value === null) continue; // OTLP/JSON: null stands for the default value
      const where = path === '' ? key : `${path}.${key}`;
      if (!(key in output)) return `${where}: no such field in opentelemetry-proto`;
      const nested = (longsAsNumbers as Record<string, unknown>)[key];
      const found = firstDifference(value, output[key], nested, where);
      if (found !== null) return found;
    }
    return null;
  }
  if (Object.is(input, output)) return null;
  const isInt64 = typeof output === 'string' && typeof longsAsNumbers === 'number';
  if (isInt64 && typeof input === 'number' && Number.isInteger(input) && BigInt(input) === BigInt(output))
    return null;
  if (isInt64 && typeof input === 'string' && /^-?\d+$/.test(input) && BigInt(input) === BigInt(output))
    return null;
  // proto3 JSON writes doubles as numbers, or as strings for NaN and the infinities.
  if (typeof output === 'number' && typeof input === 'string' && Object.is(Number(input), output)) {
    if (['NaN', 'Infinity', '-Infinity'].includes(input)) return null;
  }
  return `${path}: ${JSON.stringify(input)} does not have the field's type (it converts to ${JSON.stringify(output)})`;
}

/** OTLP/JSON hex ids → the base64 protobufjs expects for `bytes`; throws on a malformed id. */
function base64Ids(value: unknown, path: string): unknown {
  if (Array.isArray(value)) return value.map((item, i) => base64Ids(item, `${path}[${i}]`));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    const where = path === '' ? key : `${path}.${key}`;
    if (HEX_ID_FIELDS.has(key) && typeof field === 'string') {
      if (!/^(?:[0-9a-fA-F]{2})*$/.test(field))
        throw new OtlpDecodeError(`${where}: ids are hex in OTLP/JSON`);
      out[key] = Buffer.from(field, 'hex').toString('base64');
    } else out[key] = base64Ids(field, where);
  }
  return out;
}

/** base64 ids (as protobufjs writes `bytes`) → lowercase hex, as OTLP/JSON has them. */
function hexIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(hexIds);
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    out[key] =
      HEX_ID_FIELDS.has(key) && typeof field === 'string'
        ? Buffer.from(field, 'base64').toString('hex')
        : hexIds(field);
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
