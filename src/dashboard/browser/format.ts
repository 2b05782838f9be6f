/**
 * Display formatting for the dashboard's pages. The server sends exact integers as decimal
 * strings (µJ, µg, µL); here, and only here in the browser, they become rounded numbers for
 * people. Nothing computed here is ever signed or sent back.
 */

/** A decimal string of an integer, or null. */
export function int(value: unknown): bigint | null {
  return typeof value === 'string' && /^-?\d+$/.test(value) ? BigInt(value) : null;
}

function scaled(value: number, units: readonly (readonly [number, string])[], digits = 3): string {
  if (value === 0) return `0 ${(units[0] as readonly [number, string])[1]}`;
  let chosen = units[0] as readonly [number, string];
  for (const unit of units) if (Math.abs(value) >= unit[0]) chosen = unit;
  const x = value / chosen[0];
  const shown = Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(digits - 1);
  return `${shown} ${chosen[1]}`;
}

/** µJ → `12.3 J`, `4.56 kJ`, `1.23 MJ`. */
export function joules(microJoules: bigint | number): string {
  return scaled(Number(microJoules), [
    [1, 'µJ'],
    [1e3, 'mJ'],
    [1e6, 'J'],
    [1e9, 'kJ'],
    [1e12, 'MJ'],
  ]);
}

/** µJ → `0.00342 Wh`, `1.23 kWh`. */
export function wattHours(microJoules: bigint | number): string {
  const wh = Number(microJoules) / 3.6e9;
  if (wh >= 1000) return `${(wh / 1000).toPrecision(3)} kWh`;
  return `${wh.toPrecision(3)} Wh`;
}

/** µg → `1.23 mg`, `4.5 g`, `1.2 kg`. */
export function grams(micrograms: bigint | number): string {
  return scaled(Number(micrograms), [
    [1, 'µg'],
    [1e3, 'mg'],
    [1e6, 'g'],
    [1e9, 'kg'],
    [1e12, 't'],
  ]);
}

/** µL → `12 mL`, `3.4 L`. */
export function litres(microliters: bigint | number): string {
  return scaled(Number(microliters), [
    [1, 'µL'],
    [1e3, 'mL'],
    [1e6, 'L'],
    [1e9, 'm³'],
  ]);
}

/** mW → `627 W`, `4.21 kW`. */
export function watts(milliWatts: number): string {
  return milliWatts >= 1e6 ? `${(milliWatts / 1e6).toFixed(2)} kW` : `${Math.round(milliWatts / 1000)} W`;
}

/** A J-per-token ratio (a JSON number in joules) → `0.35 J`, `12 mJ`. */
export function joulesRatio(value: number | null): string {
  return value === null ? '–' : joules(value * 1e6);
}

/** Creates an element with a class and text. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = '',
  text = '',
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

/** GET a JSON document (same origin), throwing with the API's error message on a non-2xx. */
export async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { headers: { accept: 'application/json' } });
  const body = (await response.json()) as T & { error?: { code: string; message: string } };
  if (!response.ok)
    throw new Error(body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${response.status}`);
  return body;
}
