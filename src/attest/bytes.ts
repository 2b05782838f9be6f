import { AttestError } from './errors.js';

/**
 * Byte helpers for the attestation primitives: strict base64 / hex / UTF-8 and a timing-safe
 * comparison. Pure TypeScript on Web APIs only (TextEncoder, TextDecoder), so every module that
 * imports this one also runs in a browser. Node's `Buffer` is deliberately not used: its base64
 * decoder silently skips invalid characters, which a verifier must not do.
 */

const STANDARD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const URL_SAFE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const PAD = 0x3d; // '='

function decodeTable(alphabet: string): Int8Array {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
}
const STANDARD_TABLE = decodeTable(STANDARD_ALPHABET);
const URL_SAFE_TABLE = decodeTable(URL_SAFE_ALPHABET);

function invalid(what: string, details: Record<string, string | number> = {}): AttestError {
  return new AttestError('ATTEST_ENCODING_INVALID', what, { details });
}

/**
 * Node's Buffer when present: native base64 and a much faster path for the megabytes a verifier
 * decodes. Browsers have none, and the portable code below runs there; both give identical results.
 */
const NodeBuffer = (globalThis as { Buffer?: typeof Buffer }).Buffer;

/** Standard base64 (RFC 4648 §4) with padding, as C2SP and DSSE signers write it. */
export function base64FromBytes(bytes: Uint8Array): string {
  if (NodeBuffer) return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1];
    const b2 = bytes[i + 2];
    out += STANDARD_ALPHABET[b0 >> 2]!;
    out += STANDARD_ALPHABET[((b0 & 0x03) << 4) | ((b1 ?? 0) >> 4)]!;
    out += b1 === undefined ? '=' : STANDARD_ALPHABET[((b1 & 0x0f) << 2) | ((b2 ?? 0) >> 6)]!;
    out += b2 === undefined ? '=' : STANDARD_ALPHABET[b2 & 0x3f]!;
  }
  return out;
}

/**
 * Decodes base64 strictly; the input is usually attacker-controlled. Rejects whitespace, characters
 * outside the alphabet, wrong padding and non-zero trailing bits, so every byte string has exactly
 * one accepted encoding. By default only standard padded base64 (RFC 4648 §4) is accepted; with
 * `allowUrlSafe` the URL-safe alphabet (§5, padding optional) is accepted too, as DSSE requires of
 * verifiers — but never a mix of both alphabets. Throws `ATTEST_ENCODING_INVALID`.
 */
export function bytesFromBase64(text: string, options: { allowUrlSafe?: boolean } = {}): Uint8Array {
  if (NodeBuffer) {
    // Fast path: standard base64 that re-encodes to exactly itself is the one accepted spelling.
    // Anything else (URL-safe, bad characters or padding) takes the strict decoder for its verdict.
    const decoded = NodeBuffer.from(text, 'base64');
    if (decoded.toString('base64') === text)
      return new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.length);
  }
  const urlSafe = options.allowUrlSafe === true && !text.includes('+') && !text.includes('/');
  const table = urlSafe ? URL_SAFE_TABLE : STANDARD_TABLE;
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === PAD) end--;
  const padCount = text.length - end;
  const remainder = end % 4;
  const wantPad = remainder === 0 ? 0 : 4 - remainder;
  const padOk = padCount === wantPad || (urlSafe && padCount === 0);
  if (remainder === 1 || !padOk)
    throw invalid('base64 has a wrong length or padding', { chars: text.length });
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < end; i++) {
    const code = text.charCodeAt(i);
    const v = code < 128 ? table[code]! : -1;
    if (v < 0) throw invalid('base64 has a character outside its alphabet', { position: i });
    acc = ((acc << 6) | v) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  // Non-zero leftover bits mean a second spelling of the same bytes: reject (RFC 4648 §3.5).
  if ((acc & ((1 << bits) - 1)) !== 0) throw invalid('base64 has non-zero trailing bits');
  return out;
}

/** Lowercase hex of `bytes`. */
export function hexFromBytes(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

const LOWER_HEX = /^(?:[0-9a-f]{2})*$/;

/** Decodes lowercase hex strictly (even length, `0-9a-f` only). Throws `ATTEST_ENCODING_INVALID`. */
export function bytesFromHex(hex: string): Uint8Array {
  if (!LOWER_HEX.test(hex)) throw invalid('hex must be an even number of lowercase hex digits');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const encoder = new TextEncoder();
// fatal: reject malformed UTF-8 instead of inserting U+FFFD; ignoreBOM: keep a leading U+FEFF in
// the text so that the bytes we verified and the string we return describe the same content.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** True when `text` has no lone UTF-16 surrogate (which UTF-8 cannot encode). */
export function isWellFormedString(text: string): boolean {
  const native = (text as unknown as { isWellFormed?: () => boolean }).isWellFormed;
  if (typeof native === 'function') return native.call(text);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false;
    }
  }
  return true;
}

/** UTF-8 bytes of `text`. Throws `ATTEST_ENCODING_INVALID` on a lone surrogate (no silent U+FFFD). */
export function utf8FromString(text: string): Uint8Array {
  if (!isWellFormedString(text)) throw invalid('text has a lone UTF-16 surrogate');
  return encoder.encode(text);
}

/** Decodes UTF-8 strictly (no replacement characters). Throws `ATTEST_ENCODING_INVALID`. */
export function stringFromUtf8(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch (cause) {
    throw new AttestError('ATTEST_ENCODING_INVALID', 'bytes are not valid UTF-8', { cause });
  }
}

/** Concatenates byte arrays into a new one. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * Compares two byte arrays without an early exit on the first difference, so the time taken does
 * not reveal how many leading bytes of an expected hash an attacker has guessed. Lengths are not
 * secret and are compared first. (A JIT gives no hard guarantee; this is the best pure JS offers.)
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
