import type { Comparison, ModelStats } from './report-types.js';

/**
 * Compares models by energy per output token on the active boundary, each against the most frugal
 * one, with exact integer arithmetic (a ratio of two ratios of bigint sums, rounded half up to
 * hundredths only at the end). Only models with output tokens and measured energy take part; with
 * fewer than two there is nothing to compare and the result is null.
 */
export function compareModels(models: readonly ModelStats[]): Comparison | null {
  const candidates = models
    .map((m) => ({
      model: m.model,
      engineId: m.engineId,
      energy: BigInt(m.active.perOutputToken.energyMicroJoules),
      tokens: BigInt(m.active.perOutputToken.tokens),
    }))
    .filter((c) => c.tokens > 0n && c.energy > 0n);
  if (candidates.length < 2) return null;
  // a is more frugal than b when Ea / Ta < Eb / Tb, i.e. Ea × Tb < Eb × Ta.
  const baseline = candidates.reduce((best, c) =>
    c.energy * best.tokens < best.energy * c.tokens ? c : best,
  );
  return {
    boundary: 'active',
    metric: 'energy-per-output-token',
    baseline: { model: baseline.model, engineId: baseline.engineId },
    entries: candidates.map((c) => ({
      model: c.model,
      engineId: c.engineId,
      ratio: hundredths(c.energy * baseline.tokens, c.tokens * baseline.energy),
    })),
  };
}

/** numerator ÷ denominator rounded half up to 2 decimals, as a number. */
function hundredths(numerator: bigint, denominator: bigint): number {
  const scaled = (numerator * 200n + denominator) / (2n * denominator);
  return Number(scaled) / 100;
}
