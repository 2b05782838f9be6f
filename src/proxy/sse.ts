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
  private data = '';
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

  /** Feeds one chunk; calls `onEvent` for each event it completes, in order. */
  push(chunk: Uint8Array, onEvent: (event: SseEvent) => void): void {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let pos = 0;
    if (this.crPending && bytes.length > 0) {
      this.crPending = false;
      pos = bytes[0] === LF ? 1 : 0;
      this.endLine(this.takePartial(), pos + 1, onEvent);
    }
    const ends = new LineEnds(bytes);
    while (pos < bytes.length) {
      const end = ends.next(pos);
      if (end < 0) {
        this.addPartial(bytes.subarray(pos));
        break;
      }
      this.addPartial(bytes.subarray(pos, end));
      if (bytes[end] === CR && end + 1 === bytes.length) {
        // Is the next chunk's first byte the LF of a CRLF? Decide when it arrives.
        this.crPending = true;
        break;
      }
      const terminator = bytes[end] === CR && bytes[end + 1] === LF ? 2 : 1;
      this.endLine(this.takePartial(), terminator, onEvent);
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
    const name = colon < 0 ? line.toString('utf8') : line.toString('utf8', 0, colon);
    let valueStart = colon < 0 ? line.length : colon + 1;
    if (line[valueStart] === 0x20) valueStart += 1; // one optional space after the colon
    const value = line.toString('utf8', valueStart);
    if (name === 'data') {
      this.data += `${value}\n`;
      if (this.data.length > this.maxEventBytes) throw new SseLimitError(this.maxEventBytes);
    } else if (name === 'event') {
      this.eventType = value;
    } else if (name === 'id' && !value.includes('\u0000')) {
      this.lastId = value;
    }
    // `retry` and unknown fields are ignored, as the standard says.
  }

  private dispatch(end: number, onEvent: (event: SseEvent) => void): void {
    const start = this.blockStart;
    const data = this.data;
    const event = this.eventType;
    this.blockStart = -1;
    this.data = '';
    this.eventType = '';
    // An event with an empty data buffer (only comments, `event:` or `id:` lines) is not dispatched.
    if (data === '' || start < 0) return;
    onEvent({ event: event || 'message', data: data.slice(0, -1), lastEventId: this.lastId, start, end });
  }
}

/**
 * Finds line ends in one chunk. Remembers where the next CR and LF are so that a chunk of many
 * lines is scanned once, not once per line.
 */
class LineEnds {
  private nextLf = -2;
  private nextCr = -2;
  constructor(private readonly bytes: Buffer) {}

  /** Index of the next CR or LF at or after `from`, or -1. */
  next(from: number): number {
    if (this.nextLf !== -1 && this.nextLf < from) this.nextLf = this.bytes.indexOf(LF, from);
    if (this.nextCr !== -1 && this.nextCr < from) this.nextCr = this.bytes.indexOf(CR, from);
    if (this.nextCr < 0) return this.nextLf;
    if (this.nextLf < 0) return this.nextCr;
    return Math.min(this.nextLf, this.nextCr);
  }
}
