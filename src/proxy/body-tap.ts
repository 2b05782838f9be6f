import type { RequestUsage } from '../requests/types.js';
import {
  type UsageOperation,
  usageFromBody,
  usageFromCompletionUsage,
  usageFromResponsesUsage,
} from './usage.js';

/** Bytes of the body's end kept once a body outgrows the full-copy limit. */
const TAIL_BYTES = 64 * 1024;

/**
 * Keeps a copy of a non-streamed response body, while the original chunks are forwarded
 * untouched, to read its `usage` at the end. Memory is bounded: past `maxBytes` only the last
 * 64 KiB are kept, because servers serialise `usage` after the (possibly huge) `data` array of
 * embeddings and after `choices`.
 */
export class BodyTap {
  private readonly maxBytes: number;
  private chunks: Buffer[] = [];
  private size = 0;
  private overflowed = false;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Copies (references) one forwarded chunk. */
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size > this.maxBytes) this.trimToTail();
  }

  /** The usage in the complete body, or undefined when there is none or it cannot be read. */
  usage(operation: UsageOperation): RequestUsage | undefined {
    const text = Buffer.concat(this.chunks).toString('utf8');
    if (!this.overflowed) {
      try {
        return usageFromBody(operation, JSON.parse(text));
      } catch {
        return undefined;
      }
    }
    return usageFromTail(operation, text);
  }

  private trimToTail(): void {
    this.overflowed = true;
    const joined = Buffer.concat(this.chunks);
    const tail = Buffer.from(joined.subarray(Math.max(0, joined.length - TAIL_BYTES)));
    this.chunks = [tail];
    this.size = tail.length;
  }
}

/**
 * Finds the last `"usage": {…}` object in the tail of a body too large to parse whole. Usage
 * objects hold only numbers and nested objects, so matching braces is enough.
 */
export function usageFromTail(operation: UsageOperation, tail: string): RequestUsage | undefined {
  const key = tail.lastIndexOf('"usage"');
  if (key < 0) return undefined;
  const open = tail.indexOf('{', key);
  if (open < 0 || tail.slice(key + 7, open).trim() !== ':') return undefined;
  let depth = 0;
  for (let i = open; i < tail.length; i++) {
    if (tail[i] === '{') depth += 1;
    else if (tail[i] === '}') depth -= 1;
    if (depth === 0) {
      try {
        const usage: unknown = JSON.parse(tail.slice(open, i + 1));
        return operation === 'responses' ? usageFromResponsesUsage(usage) : usageFromCompletionUsage(usage);
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
