/**
 * An incremental Server-Sent Events parser (WHATWG HTML, "Parsing an event stream") that only
 * observes: it is fed the upstream's bytes exactly as they arrive, split anywhere, and reports each
 * dispatched event with its absolute byte range so a caller can forward, hold back or drop bytes
 * without re-encoding anything.
 */

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const UTF8_BOM = [0xef, 0xbb, 0xbf] as const;

/** One dispatched event and where its bytes lie in the stream. */
export interface SseEvent {
  /** The `event:` name; `message` when none was given. */
  readonly event: string;
  /** The `data:` lines joined with `\n`. */
  readonly data: string;
  /** The last `id:` seen so far in the stream (WHATWG: it persists across events), if any. */
  readonly lastEventId: string;
  /** Absolute offset of the event's first field line. */
  readonly start: number;
  /** Absolute offset just after the blank line that dispatched it. */
  readonly end: number;
}

/** A line or an event grew past the parser's limit: the caller should stop observing. */
export class SseLimitError extends Error {
  constructor(limit: number) {
    super(`server-sent event larger than ${limit} bytes; observation stopped`);
    this.name = 'SseLimitError';
  }
}

/**
 * Parses an event stream chunk by chunk. Lines end with `\n`, `\r\n` or `\r`; a `\r` at the very
 * end of a chunk is held until the next byte shows whether a `\n` belongs to it, so that event
 * byte ranges are exact even when a CRLF is split between chunks.
 */
export class SseParser {
  private readonly maxEventBytes: number;
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private lineStart = 0;
  private blockStart = -1;
  private crPending = false;
  private bomChecked = false;
  /** The data buffer: `undefined` while empty, else its lines joined with `\n` (no trailing LF). */
  private data: string | undefined;
  private eventType = '';
  private lastId = '';

  /** @param maxEventBytes largest line or event data accepted before {@link SseLimitError}. */
  constructor(maxEventBytes = 16 * 1024 * 1024) {
    this.maxEventBytes = maxEventBytes;
  }

  /**
   * Offset of the first byte that may still belong to an event not yet dispatched. Bytes before it
   * are settled: no later input can make them part of an event.
   */
  get settledOffset(): number {
    return this.blockStart >= 0 ? this.blockStart : this.lineStart;
  }

  /**
   * Feeds one chunk; calls `onEvent` for each event it completes, in order. Hot path: one scan for
   * LF and one for CR per chunk, no copy of a line that lies within one chunk.
   */
  push(chunk: Uint8Array, onEvent: (event: SseEvent) => void): void {
    const bytes = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const length = bytes.length;
    let pos = 0;
    if (this.crPending && length > 0) {
      this.crPending = false;
      pos = bytes[0] === LF ? 1 : 0;
      this.endLine(this.takePartial(), pos + 1, onEvent);
    }
    // Where the next LF and CR are (-1: none left in the chunk); found once, moved past as needed.
    let nextLf = pos < length ? bytes.indexOf(LF, pos) : -1;
    let nextCr = pos < length ? bytes.indexOf(CR, pos) : -1;
    while (pos < length) {
      if (nextLf >= 0 && nextLf < pos) nextLf = bytes.indexOf(LF, pos);
      if (nextCr >= 0 && nextCr < pos) nextCr = bytes.indexOf(CR, pos);
      const end = nextCr < 0 ? nextLf : nextLf < 0 ? nextCr : Math.min(nextLf, nextCr);
      if (end < 0) {
        this.addPartial(bytes.subarray(pos));
        break;
      }
      if (bytes[end] === CR && end + 1 === length) {
        // Is the next chunk's first byte the LF of a CRLF? Decide when it arrives.
        this.addPartial(bytes.subarray(pos, end));
        this.crPending = true;
        break;
      }
      const terminator = bytes[end] === CR && bytes[end + 1] === LF ? 2 : 1;
      if (this.partialBytes === 0) {
        this.endLine(bytes.subarray(pos, end), terminator, onEvent);
      } else {
        this.addPartial(bytes.subarray(pos, end));
        this.endLine(this.takePartial(), terminator, onEvent);
      }
      pos = end + terminator;
    }
  }

  /**
   * The stream ended. A pending `\r` still ends its line; an event without its blank line is
   * discarded, as WHATWG requires (the caller forwards those bytes anyway).
   */
  finish(onEvent: (event: SseEvent) => void): void {
    if (this.crPending) {
      this.crPending = false;
      this.endLine(this.takePartial(), 1, onEvent);
    }
  }

  private addPartial(part: Buffer): void {
    if (part.length === 0) return;
    this.partial.push(part);
    this.partialBytes += part.length;
    if (this.partialBytes > this.maxEventBytes) throw new SseLimitError(this.maxEventBytes);
  }

  private takePartial(): Buffer {
    if (this.partialBytes === 0) return EMPTY;
    const line = this.partial.length === 1 ? this.partial[0]! : Buffer.concat(this.partial);
    this.partial = [];
    this.partialBytes = 0;
    return line;
  }

  /** Handles one complete line; `terminatorBytes` is 1 (LF or CR) or 2 (CRLF). */
  private endLine(raw: Buffer, terminatorBytes: number, onEvent: (event: SseEvent) => void): void {
    let line = raw;
    if (!this.bomChecked) {
      this.bomChecked = true;
      if (UTF8_BOM.every((b, i) => line[i] === b)) line = line.subarray(3);
    }
    const lineOffset = this.lineStart;
    const afterLine = lineOffset + raw.length + terminatorBytes;
    this.lineStart = afterLine;
    if (line.length === 0) {
      this.dispatch(afterLine, onEvent);
      return;
    }
    if (line[0] === COLON) return; // a comment (keep-alive): never starts an event
    if (this.blockStart < 0) this.blockStart = lineOffset;
    this.field(line);
  }

  private field(line: Buffer): void {
    const colon = line.indexOf(COLON);
    // The field name, compared as bytes: `data`, `event` and `id` matter, the rest is ignored.
    const nameLength = colon < 0 ? line.length : colon;
    const kind = fieldKind(line, nameLength);
    if (kind === FIELD_OTHER) return; // `retry` and unknown fields are ignored, as the standard says.
    let valueStart = colon < 0 ? line.length : colon + 1;
    if (line[valueStart] === 0x20) valueStart += 1; // one optional space after the colon
    const value = line.toString('utf8', valueStart);
    if (kind === FIELD_DATA) {
      this.data = this.data === undefined ? value : `${this.data}\n${value}`;
      if (this.data.length > this.maxEventBytes) throw new SseLimitError(this.maxEventBytes);
    } else if (kind === FIELD_EVENT) {
      this.eventType = value;
    } else if (!value.includes('\u0000')) {
      this.lastId = value;
    }
  }

  private dispatch(end: number, onEvent: (event: SseEvent) => void): void {
    const start = this.blockStart;
    const data = this.data;
    const event = this.eventType;
    this.blockStart = -1;
    this.data = undefined;
    this.eventType = '';
    // An event with an empty data buffer (only comments, `event:` or `id:` lines) is not dispatched.
    if (data === undefined || start < 0) return;
    onEvent({ event: event || 'message', data, lastEventId: this.lastId, start, end });
  }
}

const EMPTY = Buffer.alloc(0);
const FIELD_OTHER = 0;
const FIELD_DATA = 1;
const FIELD_EVENT = 2;
const FIELD_ID = 3;

/** Which field a line names (its first `nameLength` bytes): data, event, id, or another. */
function fieldKind(line: Buffer, nameLength: number): number {
  if (nameLength === 4) {
    return line[0] === 0x64 && line[1] === 0x61 && line[2] === 0x74 && line[3] === 0x61
      ? FIELD_DATA
      : FIELD_OTHER;
  }
  if (nameLength === 5) {
    return line[0] === 0x65 && line[1] === 0x76 && line[2] === 0x65 && line[3] === 0x6e && line[4] === 0x74
      ? FIELD_EVENT
      : FIELD_OTHER;
  }
  return nameLength === 2 && line[0] === 0x69 && line[1] === 0x64 ? FIELD_ID : FIELD_OTHER;
}
