import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSmiCsvLine, rejectedField, SMI_FIELDS } from '../../../src/probes/nvidia-smi-csv.js';
import { RepeatLimiter } from '../../../src/probes/nvidia-smi-log.js';
import { smiPowerSemantics } from '../../../src/probes/nvidia-smi-semantics.js';
import { SmiTimeline } from '../../../src/probes/nvidia-smi-timeline.js';
import { SMI_XML_FIXTURES, smiRecordingPath, smiXmlPath } from '../../helpers/fake-nvidia-smi.js';
import { FIXTURES } from '../../helpers/fixtures.js';
import { ManualClock } from '../../helpers/manual-clock.js';

// Product names and architectures are read from the real -q -x documents in
// tests/fixtures/nvidia-smi-xml (SOURCES.md, "nvidia-smi-xml/"); the rules come from
// `nvidia-smi --help-query-gpu` as captured on an RTX 2080 SUPER (tests/fixtures/nvidia-smi-csv).
function xmlGpu(file: string): { name: string; architecture: string | undefined } {
  const text = readFileSync(smiXmlPath(file), 'utf8');
  return {
    name: /<product_name>([^<]+)<\/product_name>/.exec(text)?.[1] ?? '',
    architecture: /<product_architecture>([^<]+)<\/product_architecture>/.exec(text)?.[1],
  };
}

describe('smiPowerSemantics', () => {
  it('quotes the captured --help-query-gpu text it is based on', () => {
    const help = readFileSync(
      `${FIXTURES}nvidia-smi-csv/nvidia-gpu-exporter-capture__linux-x86_64__nvidia-geforce-rtx-2080-super__595.71.05.txt`,
      'utf8',
    );
    expect(help).toContain(
      'On Ampere or newer devices, returns average power draw over 1 sec. On older devices, returns instantaneous power draw.',
    );
    expect(help).toContain(
      'Only available if power management is supported and Ampere (except GA100) or newer devices.',
    );
  });

  it.each([
    [SMI_XML_FIXTURES.teslaT4, 'Turing', 'instant', 'product_architecture'],
    [SMI_XML_FIXTURES.a100Mig, 'Ampere GA100', 'instant', 'product_architecture'],
    [SMI_XML_FIXTURES.a10g, 'Ampere', 'average-1s', 'product_architecture'],
    [SMI_XML_FIXTURES.rtx3060, 'Ampere', 'average-1s', 'product_architecture'],
    [SMI_XML_FIXTURES.rtx4000Ada, 'Ada Lovelace', 'average-1s', 'product_architecture'],
    [SMI_XML_FIXTURES.blackwell, 'Blackwell', 'average-1s', 'product_architecture'],
    // The 470 document has no <product_architecture>: the name says Pascal.
    [SMI_XML_FIXTURES.gt1030PowerNa, 'Pascal', 'instant', 'product name'],
  ])('power.draw on %s is %s → %s', (file, architecture, semantics, source) => {
    const result = smiPowerSemantics(xmlGpu(file), false);
    expect(result).toMatchObject({
      field: 'power.draw',
      semantics,
      architecture,
      architectureSource: source,
    });
    expect(result.rule).toContain('nvidia-smi --help-query-gpu');
  });

  it('calls power.draw.instant instantaneous on every architecture', () => {
    expect(smiPowerSemantics(xmlGpu(SMI_XML_FIXTURES.a10g), true)).toMatchObject({
      field: 'power.draw.instant',
      semantics: 'instant',
    });
  });

  it('says so when the architecture is unknown', () => {
    const result = smiPowerSemantics({ name: 'NVIDIA Graphics Device', architecture: undefined }, false);
    expect(result).toMatchObject({
      architecture: 'unknown',
      architectureSource: 'none',
      semantics: 'average-1s',
    });
    expect(result.rule).toContain('architecture unknown');
  });
});

describe('the timestamp field', () => {
  it('parses the recorded H200 timestamp to the millisecond, as naive wall time', () => {
    const idle = JSON.parse(readFileSync(smiRecordingPath('h200'), 'utf8')).idle as Record<string, string>;
    const result = parseSmiCsvLine(SMI_FIELDS.map((f) => idle[f]).join(', '), SMI_FIELDS);
    expect(idle.timestamp).toBe('2026/07/03 22:10:46.109');
    expect(result).toMatchObject({
      kind: 'row',
      row: { timestampMillis: { kind: 'value', value: Date.UTC(2026, 6, 3, 22, 10, 46, 109) } },
    });
  });

  it('names the field a driver rejects', () => {
    expect(rejectedField('Field "mig.mode.current" is not a valid field to query.\n')).toBe(
      'mig.mode.current',
    );
    expect(rejectedField('NVIDIA-SMI has failed')).toBeUndefined();
  });
});

describe('SmiTimeline', () => {
  const MS = 1_000_000n;
  /** Observes every row as it arrives, then places them all, as a read does. */
  function placeAll(timeline: SmiTimeline, rows: readonly (readonly [number, bigint])[]): bigint[] {
    for (const [wall, arrival] of rows) timeline.observe(wall, arrival);
    return rows.map(([wall, arrival]) => timeline.place(wall, arrival));
  }

  it('keeps the sensor spacing of rows that arrive in one burst', () => {
    // Five rows taken 100 ms apart, all arriving at 1 420 ms: the last row is the least delayed.
    const rows = [0, 100, 200, 300, 400].map((t) => [t, 1_420n * MS] as const);
    expect(placeAll(new SmiTimeline(10_000), rows)).toEqual(
      [1_020n, 1_120n, 1_220n, 1_320n, 1_420n].map((t) => t * MS),
    );
  });

  it('learns the smallest delay and never places a row after its arrival', () => {
    const timeline = new SmiTimeline(10_000);
    const placed = placeAll(timeline, [
      [0, 50n * MS], // 50 ms late
      [100, 102n * MS], // 2 ms late: the better anchor
      [200, 230n * MS],
    ]);
    expect(placed).toEqual([2n * MS, 102n * MS, 202n * MS]);
    expect(placed.every((t, i) => t <= [50n, 102n, 230n][i]! * MS)).toBe(true);
  });

  it('re-anchors after the wall clock steps back', () => {
    const timeline = new SmiTimeline(10_000);
    timeline.observe(3_600_000, 1_000n * MS);
    // One hour earlier on the wall clock, 100 ms later on the monotonic one (a DST or NTP step).
    timeline.observe(100, 1_100n * MS);
    expect(timeline.place(100, 1_100n * MS)).toBe(1_100n * MS);
    expect(timeline.resyncs).toBe(1);
  });

  it('uses the arrival time for a row without a timestamp', () => {
    expect(new SmiTimeline(10_000).place(undefined, 7n)).toBe(7n);
  });
});

describe('RepeatLimiter', () => {
  it('passes the first line, folds repeats in the window into one summary, flushes on close', () => {
    const clock = new ManualClock();
    const lines: string[] = [];
    const limiter = new RepeatLimiter(60_000, clock, (type, detail) => lines.push(`${type}: ${detail}`));
    for (let i = 0; i < 100; i++) {
      limiter.note('parse-error', `line ${i}`);
      clock.advanceMillis(100);
    }
    expect(lines).toEqual(['parse-error: line 0']);
    clock.advanceMillis(60_000);
    limiter.note('parse-error', 'line 100');
    expect(lines[1]).toBe('parse-error: 100 more in the last 70 s, latest: line 100');
    limiter.note('restart', 'exited');
    limiter.note('parse-error', 'line 101');
    limiter.flush();
    expect(lines.slice(2)).toEqual([
      'restart: exited',
      'parse-error: 1 more in the last 0 s, latest: line 101',
    ]);
  });
});
