/**
 * OpenTelemetry metric names as Prometheus shows them: the rules of the OpenTelemetry
 * "Prometheus and OpenMetrics compatibility" specification as Prometheus' own OTLP translator
 * applies them by default (`UnderscoreEscapingWithSuffixes`): invalid characters become `_`, the
 * unit becomes a suffix (`J` → `_joules`), monotonic sums end in `_total` and gauges of unit `1`
 * in `_ratio`. The scrape endpoint uses them so that one PromQL query works whether the numbers
 * arrive by scrape or through a collector (`prometheusremotewrite`, Prometheus' OTLP receiver).
 * The OpenTelemetry JS exporter alone would leave the units out (`hw_energy_total`).
 */

/** What decides the suffixes. */
export type PrometheusKind = 'counter' | 'gauge' | 'histogram';

/** UCUM units → Prometheus unit words; anything else is kept as written (`L` stays `L`). */
const UNIT_WORDS: Readonly<Record<string, string>> = {
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  TiBy: 'tibibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  TBy: 'terabytes',
  m: 'meters',
  V: 'volts',
  A: 'amperes',
  J: 'joules',
  W: 'watts',
  g: 'grams',
  Cel: 'celsius',
  Hz: 'hertz',
  '1': '',
  '%': 'percent',
};

/** The `per` part of a unit (`By/s` → `per_second`). */
const PER_UNIT_WORDS: Readonly<Record<string, string>> = {
  s: 'second',
  m: 'minute',
  h: 'hour',
  d: 'day',
  w: 'week',
  mo: 'month',
  y: 'year',
};

/** Splits on anything Prometheus does not allow in a name, dropping empty pieces. */
function tokens(text: string): string[] {
  return text.split(/[^A-Za-z0-9:]+/).filter((token) => token !== '');
}

/** The unit's words: `J` → [`joules`], `By/s` → [`bytes`, `per`, `second`], `{token}` → []. */
function unitTokens(unit: string): { main: string[]; per: string[] } {
  const [mainText = '', perText] = unit.split('/', 2).map((part) => part.trim());
  const main = mainText !== '' && !/[{}]/.test(mainText) ? tokens(UNIT_WORDS[mainText] ?? mainText) : [];
  const per =
    perText !== undefined && perText !== '' && !/[{}]/.test(perText)
      ? tokens(PER_UNIT_WORDS[perText] ?? perText)
      : [];
  return { main, per: per.length > 0 ? ['per', ...per] : [] };
}

/**
 * The Prometheus name of an OpenTelemetry metric: `hw.energy` (`J`, counter) →
 * `hw_energy_joules_total`, `hw.gpu.utilization` (`1`, gauge) → `hw_gpu_utilization_ratio`,
 * `wattledger.request.energy` (`J`, histogram) → `wattledger_request_energy_joules` (the
 * `_bucket`, `_sum` and `_count` series add their own suffix). A unit word already in the name is
 * not repeated.
 */
export function prometheusMetricName(name: string, unit: string, kind: PrometheusKind): string {
  let parts = tokens(name);
  const { main, per } = unitTokens(unit);
  const mainWord = main.join('_');
  if (mainWord !== '' && !parts.includes(mainWord)) parts.push(mainWord);
  const perWord = per.join('_');
  if (perWord !== '' && !parts.includes(perWord)) parts.push(perWord);
  if (kind === 'counter') parts = [...parts.filter((part) => part !== 'total'), 'total'];
  if (unit === '1' && kind === 'gauge') parts = [...parts.filter((part) => part !== 'ratio'), 'ratio'];
  const joined = parts.join('_');
  return /^[0-9]/.test(joined) ? `_${joined}` : joined;
}
