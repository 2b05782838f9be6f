import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  categorizeUnavailable,
  LineSplitter,
  parseSmiCsv,
  parseSmiCsvLine,
  SMI_FIELDS,
  SMI_FIELDS_LEGACY,
  type SmiRow,
} from '../../../src/probes/nvidia-smi-csv.js';
import { smiRecordingPath } from '../../helpers/fake-nvidia-smi.js';

// Rows are built from the real idle/load cells recorded on an H200, H100 (MIG) and L40S: see
// tests/fixtures/nvidia-smi/*.json, copied from tests/fixtures/nvidia-smi-csv (SOURCES.md,
// section "nvidia-smi-csv/", nvidia_gpu_exporter captures, MIT).
type Recorded = Record<string, string>;
function recorded(name: string, phase: 'idle' | 'load'): Recorded {
  return JSON.parse(readFileSync(smiRecordingPath(name as 'h200'), 'utf8'))[phase];
}
function lineOf(cells: Recorded, fields: readonly string[] = SMI_FIELDS): string {
  return fields.map((f) => cells[f]).join(', ');
}
function row(line: string, fields = SMI_FIELDS as readonly (typeof SMI_FIELDS)[number][]): SmiRow {
  const result = parseSmiCsvLine(line, fields);
  if (result.kind !== 'row') throw new Error(`expected a row, got ${JSON.stringify(result)}`);
  return result.row;
}

describe('parseSmiCsvLine', () => {
  it('parses the recorded H200 load row into integer milliwatts and bytes', () => {
    const parsed = row(lineOf(recorded('h200', 'load')));
    expect(parsed.powerInstantMilliWatts).toEqual({ kind: 'value', value: 626_260 });
    expect(parsed.powerDrawMilliWatts).toEqual({ kind: 'value', value: 627_400 });
    expect(parsed.enforcedPowerLimitMilliWatts).toEqual({ kind: 'value', value: 700_000 });
    expect(parsed.utilizationGpuPercent).toEqual({ kind: 'value', value: 100 });
    expect(parsed.memoryUsedBytes).toEqual({ kind: 'value', value: 32_362n * 1_048_576n });
    expect(parsed.memoryTotalBytes).toEqual({ kind: 'value', value: 143_771n * 1_048_576n });
    expect(parsed.uuid).toEqual({ kind: 'value', value: 'GPU-00000000-0000-0000-0000-000000000000' });
    expect(parsed.name).toEqual({ kind: 'value', value: 'NVIDIA H200' });
    expect(parsed.pciBusId).toEqual({ kind: 'value', value: '00000000:83:00.0' });
    expect(parsed.migMode).toEqual({ kind: 'value', value: 'disabled' });
  });

  it('turns the [N/A] utilization of a MIG-enabled H100 into a reason, not 0', () => {
    const parsed = row(lineOf(recorded('h100-mig', 'load')));
    expect(parsed.utilizationGpuPercent).toEqual({
      kind: 'unavailable',
      reason: 'N/A',
      category: 'not-applicable',
    });
    expect(parsed.migMode).toEqual({ kind: 'value', value: 'enabled' });
    expect(parsed.powerInstantMilliWatts).toEqual({ kind: 'value', value: 447_350 });
  });

  it('keeps the [N/A] mig mode of the L40S as unavailable', () => {
    expect(row(lineOf(recorded('l40s', 'idle'))).migMode).toMatchObject({
      kind: 'unavailable',
      reason: 'N/A',
    });
  });

  it.each([
    ['[N/A]', 'not-applicable'],
    ['[Not Supported]', 'not-supported'],
    ['[Requested functionality has been deprecated]', 'not-supported'],
    ['[Function Not Found]', 'not-supported'],
    ['[GPU is lost]', 'gpu-lost'],
    ['[Unknown Error]', 'error'],
    ['[Insufficient Permissions]', 'error'],
  ])('reads a %s power cell as unavailable (%s), never as a number', (text, category) => {
    const cells = { ...recorded('h200', 'idle'), 'power.draw.instant': text };
    expect(row(lineOf(cells)).powerInstantMilliWatts).toEqual({
      kind: 'unavailable',
      reason: text.slice(1, -1),
      category,
    });
  });

  it('parses a legacy field list without power.draw.instant', () => {
    const parsed = row(lineOf(recorded('h200', 'idle'), SMI_FIELDS_LEGACY), [...SMI_FIELDS_LEGACY]);
    expect(parsed.powerInstantMilliWatts).toBeUndefined();
    expect(parsed.powerDrawMilliWatts).toEqual({ kind: 'value', value: 77_710 });
  });

  it('skips blank lines and a repeated header with units', () => {
    expect(parseSmiCsvLine('', SMI_FIELDS)).toEqual({ kind: 'skip' });
    expect(parseSmiCsvLine('  \r', SMI_FIELDS)).toEqual({ kind: 'skip' });
    const header = SMI_FIELDS.map((f) =>
      f.startsWith('power') || f.includes('limit') ? `${f} [W]` : f,
    ).join(', ');
    expect(parseSmiCsvLine(header, SMI_FIELDS)).toEqual({ kind: 'skip' });
  });

  it('accepts CRLF line endings', () => {
    expect(row(`${lineOf(recorded('h200', 'idle'))}\r`).powerDrawMilliWatts).toEqual({
      kind: 'value',
      value: 77_710,
    });
  });

  it('reports a wrong field count as an error instead of throwing', () => {
    expect(parseSmiCsvLine('0, GPU-1234', SMI_FIELDS)).toEqual({
      kind: 'error',
      message: `expected ${SMI_FIELDS.length} fields, found 2`,
      line: '0, GPU-1234',
    });
  });

  it.each([
    ['power.draw', 'abc', 'decimal watts'],
    ['power.draw', '-5.00', 'decimal watts'],
    ['utilization.gpu', '101', 'a percentage'],
    ['memory.used', '1.5', 'MiB'],
    ['uuid', 'not-a-uuid', 'a GPU UUID'],
    ['pci.bus_id', '83:00', 'a PCI bus id'],
    ['mig.mode.current', 'Maybe', 'Enabled or Disabled'],
    ['index', 'x', 'an integer'],
  ])('reports an undecodable %s cell (%s) as an error naming the field', (field, value, expected) => {
    const result = parseSmiCsvLine(lineOf({ ...recorded('h200', 'idle'), [field]: value }), SMI_FIELDS);
    expect(result).toMatchObject({
      kind: 'error',
      message: expect.stringContaining(`field ${field}: expected ${expected}`),
    });
  });

  it('parses watts without floating point', () => {
    // 0.1 + 0.2 style rounding would show up here; milliWattsFromDecimalWatts is exact.
    const cells = { ...recorded('h200', 'idle'), 'power.draw': '0.29', 'power.draw.instant': '1234.567' };
    const parsed = row(lineOf(cells));
    expect(parsed.powerDrawMilliWatts).toEqual({ kind: 'value', value: 290 });
    expect(parsed.powerInstantMilliWatts).toEqual({ kind: 'value', value: 1_234_567 });
  });
});

describe('parseSmiCsv', () => {
  it('returns rows and counted errors from mixed output in line order', () => {
    const idle = lineOf(recorded('h200', 'idle'));
    const load = lineOf(recorded('h200', 'load'));
    const text = `${idle}\r\n\r\ngarbage\n${load}\n0, 1, 2\n`;
    const { rows, errors } = parseSmiCsv(text, SMI_FIELDS);
    expect(rows.map((r) => r.powerDrawMilliWatts)).toEqual([
      { kind: 'value', value: 77_710 },
      { kind: 'value', value: 627_400 },
    ]);
    expect(errors.map((e) => e.line)).toEqual(['garbage', '0, 1, 2']);
  });
});

describe('categorizeUnavailable', () => {
  it('treats a reset-required GPU like a lost one', () => {
    expect(categorizeUnavailable('GPU requires reset')).toBe('gpu-lost');
  });
});

describe('LineSplitter', () => {
  function split(chunks: readonly string[]): string[] {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line));
    for (const chunk of chunks) splitter.push(chunk);
    splitter.flush();
    return lines;
  }

  it('delivers every line of a burst and joins a row split across chunks', () => {
    expect(split(['a\nb\nc', 'c\nd', '\n'])).toEqual(['a', 'b', 'cc', 'd']);
  });

  it('hands on a final line without a newline when flushed', () => {
    expect(split(['a\npartial'])).toEqual(['a', 'partial']);
  });

  it('cuts an endless line short instead of buffering it without bound', () => {
    const lines = split(['x'.repeat(70_000), 'tail\n']);
    expect(lines[0]).toHaveLength(200);
    expect(lines).toEqual([lines[0], 'tail']);
  });
});
