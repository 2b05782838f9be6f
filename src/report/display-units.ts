/**
 * Display only: turns exact integers (µJ, µg, µL) and J-per-token ratios into text a person reads,
 * with a unit chosen for the size. Floats appear here and nowhere on the path to the numbers.
 */

interface Scale {
  readonly unit: string;
  /** How many base units (µJ, µg, µL) one of this unit is. */
  readonly factor: number;
}

const ENERGY: readonly Scale[] = [
  { unit: 'µJ', factor: 1 },
  { unit: 'mJ', factor: 1e3 },
  { unit: 'J', factor: 1e6 },
  { unit: 'Wh', factor: 3.6e9 },
  { unit: 'kWh', factor: 3.6e12 },
  { unit: 'MWh', factor: 3.6e15 },
];
const MASS: readonly Scale[] = [
  { unit: 'µg', factor: 1 },
  { unit: 'mg', factor: 1e3 },
  { unit: 'g', factor: 1e6 },
  { unit: 'kg', factor: 1e9 },
  { unit: 't', factor: 1e12 },
];
const VOLUME: readonly Scale[] = [
  { unit: 'µL', factor: 1 },
  { unit: 'mL', factor: 1e3 },
  { unit: 'L', factor: 1e6 },
  { unit: 'm³', factor: 1e9 },
];

function scaled(value: number, scales: readonly Scale[]): string {
  let chosen = scales[0] as Scale;
  for (const scale of scales) if (Math.abs(value) >= scale.factor) chosen = scale;
  const x = value / chosen.factor;
  if (x === 0) return `0 ${chosen.unit}`;
  const digits = Math.abs(x) >= 1000 ? 0 : Math.abs(x) >= 100 ? 1 : Math.abs(x) >= 10 ? 2 : 3;
  return `${x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })} ${chosen.unit}`;
}

/** `246.0 J`, `1.234 Wh`, `12.35 kWh`. */
export function energyText(microJoules: bigint | number): string {
  return scaled(Number(microJoules), ENERGY);
}

/** A J-per-token ratio: `12.35 mJ`. */
export function joulesText(joules: number): string {
  return scaled(joules * 1e6, ENERGY);
}

/** `1.234 mg`, `4.500 kg`. */
export function massText(micrograms: bigint): string {
  return scaled(Number(micrograms), MASS);
}

/** `12.00 mL`, `3.400 L`. */
export function volumeText(microliters: bigint): string {
  return scaled(Number(microliters), VOLUME);
}

/** `1,234,567`. */
export function countText(value: bigint | number): string {
  return typeof value === 'bigint' ? value.toLocaleString('en-US') : value.toLocaleString('en-US');
}

/** `12%`, `0.5%`. */
export function percentText(share: number): string {
  const percent = share * 100;
  return `${percent > 0 && percent < 1 ? percent.toFixed(1) : Math.round(percent)}%`;
}
