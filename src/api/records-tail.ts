import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** One line of the record log (docs/FORMAT.md §5.4), parsed. */
export interface RecordLine {
  readonly sequence: string;
  readonly index: number;
  readonly record: Readonly<Record<string, unknown>>;
}

/** Bytes read from the end of the newest record segment: far more than the dashboard shows. */
const TAIL_BYTES = 256 * 1024;

/**
 * The newest `limit` record-log lines, newest first, from the tail of the last segment of
 * `<ledgerDir>/records/` only (one positioned read, however large the ledger). A partial first
 * or last line (cut by the read, or being written) is skipped. Records are written before their
 * batch, so a line may belong to a batch not sealed yet: callers that need a sealed record ask
 * for its receipt. An absent record log is an empty list.
 */
export async function recentRecordLines(ledgerDir: string, limit: number): Promise<RecordLine[]> {
  const dir = join(ledgerDir, 'records');
  const names = await readdir(dir).catch(() => [] as string[]);
  const last = names
    .filter((n) => /^ledger-\d{6}\.jsonl$/.test(n))
    .sort()
    .at(-1);
  if (last === undefined) return [];
  const handle = await open(join(dir, last), 'r');
  let text: string;
  let cut: boolean;
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - TAIL_BYTES);
    const buffer = Buffer.alloc(size - start);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
    text = buffer.subarray(0, bytesRead).toString('utf8');
    cut = start > 0;
  } finally {
    await handle.close();
  }
  const lines = text.split('\n');
  if (cut) lines.shift();
  lines.pop(); // after the last newline: empty, or a line still being written
  const out: RecordLine[] = [];
  for (let i = lines.length - 1; i >= 0 && out.length < limit; i--) {
    const parsed = parseLine(lines[i] as string);
    if (parsed !== null) out.push(parsed);
  }
  return out;
}

function parseLine(line: string): RecordLine | null {
  try {
    const value = JSON.parse(line) as Partial<RecordLine>;
    if (typeof value.sequence !== 'string' || typeof value.record !== 'object' || value.record === null)
      return null;
    return { sequence: value.sequence, index: Number(value.index), record: value.record };
  } catch {
    return null;
  }
}
