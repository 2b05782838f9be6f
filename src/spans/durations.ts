/**
 * Latency attributes of server spans, in nanoseconds. vLLM writes `gen_ai.latency.*` as float
 * seconds (its source); one report claims nanoseconds for V1, so a span whose values cannot be
 * seconds (far longer than the span) but fit in it as nanoseconds is read as nanoseconds. TGI writes Rust
 * `Debug` durations as text (`1.234567ms`, `2.5s`, `830µs`).
 */

/** Nanoseconds of a number of seconds (float), rounded; `null` for negative or non-finite. */
export function secondsToNanos(seconds: number): bigint | null {
  if (!Number.isFinite(seconds) || seconds < 0) return null;
  return BigInt(Math.round(seconds * 1e9));
}

const RUST_DURATION = /^([0-9]+(?:\.[0-9]+)?)(ns|µs|us|ms|s)$/;
const UNIT_NANOS: Record<string, number> = { ns: 1, µs: 1e3, us: 1e3, ms: 1e6, s: 1e9 };

/** Nanoseconds of a Rust `Debug` duration (`12.5ms`); `null` for other text. */
export function rustDurationNanos(text: string): bigint | null {
  const m = RUST_DURATION.exec(text.trim());
  if (m === null) return null;
  return BigInt(Math.round(Number(m[1]) * (UNIT_NANOS[m[2] as string] as number)));
}

/**
 * Converts latency values (as found: numbers) to nanoseconds, all in one unit: seconds, unless
 * some value is absurd as seconds (over 1000 × (span + 1 s)) and every value fits in the span as
 * nanoseconds. Values
 * that are not finite and ≥ 0 come back `null`.
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
  const fitsAsNanos = (v: number) => BigInt(Math.round(v)) <= spanNanos + slack;
  // Far too long for seconds (1000 × the span, plus 1000 s): a value just past the span (clock
  // skew, rounding) stays seconds and is clamped by the caller.
  const spanSeconds = Number(spanNanos) / 1e9;
  const absurdAsSeconds = (v: number) => v > 1000 * (spanSeconds + 1);
  const nanos = present.some(absurdAsSeconds) && present.every(fitsAsNanos);
  const out: Record<string, bigint | null> = {};
  for (const [key, v] of Object.entries(values)) {
    if (v === null || !Number.isFinite(v) || v < 0) out[key] = null;
    else out[key] = nanos ? BigInt(Math.round(v)) : secondsToNanos(v);
  }
  return out;
}
