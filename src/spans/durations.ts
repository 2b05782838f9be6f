/**
 * Latency attributes of server spans, in nanoseconds. vLLM writes `gen_ai.latency.*` as float
 * seconds (its source); one report claims nanoseconds for V1, so a span whose values cannot be
 * seconds (far longer than the span) but fit in it as nanoseconds is read as nanoseconds. TGI writes Rust
 * `Debug` durations as text (`1.234567ms`, `2.5s`, `830µs`).
 */

/**
 * The longest latency read: 2^53 ns (about 104 days), the largest count of nanoseconds a float
 * holds exactly. Anything longer is not a latency of one request but a broken exporter.
 */
export const MAX_LATENCY_NANOS = Number.MAX_SAFE_INTEGER;

/** Nanoseconds of a number of seconds (float), rounded; `null` for negative, non-finite or over the bound. */
export function secondsToNanos(seconds: number): bigint | null {
  return nanosOf(seconds * 1e9);
}

/** A float count of nanoseconds as an integer; `null` unless finite, ≥ 0 and at most {@link MAX_LATENCY_NANOS}. */
function nanosOf(nanos: number): bigint | null {
  if (!Number.isFinite(nanos) || nanos < 0) return null;
  const rounded = Math.round(nanos);
  return rounded <= MAX_LATENCY_NANOS ? BigInt(rounded) : null;
}

const RUST_DURATION = /^([0-9]+(?:\.[0-9]+)?)(ns|µs|us|ms|s)$/;
const UNIT_NANOS: Record<string, number> = { ns: 1, µs: 1e3, us: 1e3, ms: 1e6, s: 1e9 };

/** Whether `text` is written as a Rust `Debug` duration, whatever its size. */
export function isRustDuration(text: string): boolean {
  return RUST_DURATION.test(text.trim());
}

/** Nanoseconds of a Rust `Debug` duration (`12.5ms`); `null` for other text and for one over {@link MAX_LATENCY_NANOS}. */
export function rustDurationNanos(text: string): bigint | null {
  const m = RUST_DURATION.exec(text.trim());
  if (m === null) return null;
  return nanosOf(Number(m[1]) * (UNIT_NANOS[m[2] as string] as number));
}

/**
 * Converts latency values (as found: numbers) to nanoseconds, all in one unit: seconds, unless
 * some value is absurd as seconds (over 1000 × (span + 1 s)) and every value fits in the span as
 * nanoseconds. Values
 * that are not finite and ≥ 0, or longer than {@link MAX_LATENCY_NANOS}, come back `null`.
 */
export function latencyNanos(
  values: Readonly<Record<string, number | null>>,
  spanNanos: bigint,
): Record<string, bigint | null> {
  const present = Object.values(values).filter(
    (v): v is number => v !== null && Number.isFinite(v) && v >= 0,
  );
  // 1 ms of slack: rounding, and clocks read at slightly different points by the server.
  const slack = 1_000_000n;
  const fitsAsNanos = (v: number) => v <= MAX_LATENCY_NANOS && BigInt(Math.round(v)) <= spanNanos + slack;
  // Far too long for seconds (1000 × the span, plus 1000 s): a value just past the span (clock
  // skew, rounding) stays seconds and is clamped by the caller.
  const spanSeconds = Number(spanNanos) / 1e9;
  const absurdAsSeconds = (v: number) => v > 1000 * (spanSeconds + 1);
  const nanos = present.some(absurdAsSeconds) && present.every(fitsAsNanos);
  const out: Record<string, bigint | null> = {};
  for (const [key, v] of Object.entries(values)) {
    if (v === null || !Number.isFinite(v) || v < 0) out[key] = null;
    else out[key] = nanos ? nanosOf(v) : secondsToNanos(v);
  }
  return out;
}
