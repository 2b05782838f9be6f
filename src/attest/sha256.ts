import type * as NodeCrypto from 'node:crypto';

/**
 * SHA-256 for the ledger, usable in Node and in a browser.
 *
 * How the backend is chosen (once, at module load; nothing can change it later):
 * - On Node ≥ 20.16 / 22.3, `process.getBuiltinModule('node:crypto')` gives OpenSSL's SHA-256
 *   synchronously without a static `import` of a Node built-in, so bundlers for the browser never
 *   see one. This is the fast path.
 * - Everywhere else — browsers, Deno without `process`, and Node 20.6–20.15 where
 *   `getBuiltinModule` does not exist yet — the pure TypeScript FIPS 180-4 implementation below is
 *   used. It gives identical bytes (tested against the NIST vectors and node:crypto), only slower.
 * WebCrypto's `crypto.subtle.digest` is not used: it is async-only, which would make every Merkle
 * and key-id function async for no gain.
 */

/** A SHA-256 function: 32-byte digest of `data`. */
export type Sha256 = (data: Uint8Array) => Uint8Array;

/** SHA-256 digest length in bytes. */
export const SHA256_BYTES = 32;

// FIPS 180-4 §4.2.2: first 32 bits of the fractional parts of the cube roots of the first 64 primes.
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
// FIPS 180-4 §5.3.3: first 32 bits of the fractional parts of the square roots of the first 8 primes.
const H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

const rotr = (x: number, n: number): number => (x >>> n) | (x << (32 - n));

/** FIPS 180-4 §6.2.2: one 64-byte block at `offset` into the state `h` (in place). */
function compress(h: Uint32Array, w: Uint32Array, view: DataView, offset: number): void {
  for (let t = 0; t < 16; t++) w[t] = view.getUint32(offset + 4 * t);
  for (let t = 16; t < 64; t++) {
    const x = w[t - 15]!;
    const y = w[t - 2]!;
    const s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3);
    const s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10);
    w[t] = w[t - 16]! + s0 + w[t - 7]! + s1; // Uint32Array stores mod 2^32
  }
  let a = h[0]!;
  let b = h[1]!;
  let c = h[2]!;
  let d = h[3]!;
  let e = h[4]!;
  let f = h[5]!;
  let g = h[6]!;
  let hh = h[7]!;
  for (let t = 0; t < 64; t++) {
    const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t]! + w[t]!) | 0;
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    hh = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  h[0] = h[0]! + a;
  h[1] = h[1]! + b;
  h[2] = h[2]! + c;
  h[3] = h[3]! + d;
  h[4] = h[4]! + e;
  h[5] = h[5]! + f;
  h[6] = h[6]! + g;
  h[7] = h[7]! + hh;
}

/** SHA-256 in pure TypeScript (FIPS 180-4). Always available; prefer {@link sha256}. */
export function sha256Pure(data: Uint8Array): Uint8Array {
  // §5.1.1 padding: 0x80, zeros, then the message length in bits as a 64-bit big-endian integer.
  const paddedLength = Math.ceil((data.length + 9) / 64) * 64;
  const padded = new Uint8Array(paddedLength);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(paddedLength - 8, Math.floor(data.length / 0x20000000)); // high bits of 8·length
  view.setUint32(paddedLength - 4, (data.length * 8) >>> 0);
  const h = Uint32Array.from(H0);
  const w = new Uint32Array(64);
  for (let offset = 0; offset < paddedLength; offset += 64) compress(h, w, view, offset);
  const out = new Uint8Array(SHA256_BYTES);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) outView.setUint32(4 * i, h[i]!);
  return out;
}

/** The 32 bytes of a digest that node:crypto wrote as latin1 text (char code = byte value). */
function bytesFromLatin1Digest(text: string): Uint8Array {
  const out = new Uint8Array(SHA256_BYTES);
  for (let i = 0; i < SHA256_BYTES; i++) out[i] = text.charCodeAt(i);
  return out;
}

type BuiltinLoader = { getBuiltinModule?: (id: string) => unknown };

/** The node:crypto hasher when the runtime offers one synchronously, else `undefined`. */
export function detectNodeSha256(): Sha256 | undefined {
  const proc = (globalThis as { process?: BuiltinLoader }).process;
  const crypto = proc?.getBuiltinModule?.('node:crypto') as typeof NodeCrypto | undefined;
  if (typeof crypto?.createHash !== 'function') return undefined;
  // Callers compare and store digests as plain Uint8Arrays, never Buffers. crypto.hash (Node ≥
  // 20.12) is a one-shot call; asked for a latin1 string (one char per byte, 0–255) it returns
  // ~2–3× faster than asked for a Buffer, whose allocation dominates a 65-byte Merkle node hash, and
  // ~4× faster than a Hash object per digest. Merkle roots over thousands of records are mostly that.
  const oneShot = (
    crypto as unknown as { hash?: (algorithm: string, data: Uint8Array, encoding: 'latin1') => string }
  ).hash;
  if (typeof oneShot === 'function')
    return (data) => bytesFromLatin1Digest(oneShot('sha256', data, 'latin1'));
  return (data) => new Uint8Array(crypto.createHash('sha256').update(data).digest());
}

const nodeSha256 = detectNodeSha256();

/** Which backend {@link sha256} uses in this runtime (for diagnostics and benchmarks). */
export const sha256Backend: 'node:crypto' | 'pure' = nodeSha256 === undefined ? 'pure' : 'node:crypto';

/** SHA-256 of `data` (32 bytes), through the fastest synchronous backend available. */
export const sha256: Sha256 = nodeSha256 ?? sha256Pure;
