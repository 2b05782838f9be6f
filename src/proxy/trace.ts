import { randomFillSync } from 'node:crypto';

/** The W3C trace context sent upstream for one request. */
export interface TraceContext {
  /** 32 lowercase hex: the client's trace id when it sent a valid one, else a new one. */
  readonly traceId: string;
  /** `00-<trace id>-<new span id>-<flags>`. */
  readonly traceparent: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolAt = 0;

/**
 * Random bytes from a pool refilled 4 KiB at a time: two ids per request would otherwise cost two
 * `randomBytes` calls (microseconds each). Trace and span ids identify, they are not secrets.
 */
function pooledRandomBytes(bytes: number): Buffer {
  if (poolAt + bytes > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    poolAt = 0;
  }
  poolAt += bytes;
  return pool.subarray(poolAt - bytes, poolAt);
}

/**
 * The `traceparent` for the upstream hop (W3C Trace Context level 1): the proxy is a new span in
 * the client's trace, so the trace id and flags are kept and the span id is new. Without a valid
 * incoming header a trace is started, sampled, because servers such as vLLM only export spans
 * for sampled parents and those spans are how attribution joins server timings by trace id.
 */
export function childTraceContext(
  incoming: string | readonly string[] | undefined,
  random: (bytes: number) => Buffer = pooledRandomBytes,
): TraceContext {
  const parent = parseTraceparent(typeof incoming === 'string' ? incoming : undefined);
  const traceId = parent?.traceId ?? nonZeroHex(random, 16);
  const flags = parent?.flags ?? '01';
  return { traceId, traceparent: `00-${traceId}-${nonZeroHex(random, 8)}-${flags}` };
}

function parseTraceparent(header: string | undefined): { traceId: string; flags: string } | undefined {
  const match = header === undefined ? null : TRACEPARENT.exec(header.trim());
  if (match === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = match;
  // Version ff is invalid; version 00 has no trailing fields; later versions may add some.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId: traceId!, flags: flags! };
}

function nonZeroHex(random: (bytes: number) => Buffer, bytes: number): string {
  for (;;) {
    const hex = random(bytes).toString('hex');
    if (/[^0]/.test(hex)) return hex;
  }
}
