/**
 * A reader of the Prometheus text exposition format (0.0.4) for assertions: samples with their
 * labels and values, and the `# TYPE` of each family. Enough for what our endpoint writes.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

const SAMPLE = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample line. */
export function samples(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = SAMPLE.exec(line);
      if (!match) throw new Error(`not a sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) {
        labels[key as string] = (value as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
      const raw = match[3] as string;
      return { name: match[1] as string, labels, value: raw === '+Inf' ? Infinity : Number(raw) };
    });
}

/** `# TYPE name type` lines as a map. */
export function types(text: string): Map<string, string> {
  const entries = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]] as [string, string]);
  return new Map(entries);
}
