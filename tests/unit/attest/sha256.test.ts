import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hexFromBytes } from '../../../src/attest/bytes.js';
import { detectNodeSha256, sha256, sha256Backend, sha256Pure } from '../../../src/attest/sha256.js';
import { seededBytes } from './prng.js';

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);
const nodeHex = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

// FIPS 180-4 examples (NIST CSRC "Example Values" SHA256.pdf / SHA2_Additional.pdf).
const NIST_VECTORS: readonly (readonly [string, Uint8Array, string])[] = [
  ['"abc"', ascii('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
  ['the empty string', new Uint8Array(0), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
  [
    'the 448-bit message',
    ascii('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  ],
  [
    'the 896-bit message',
    ascii(
      'abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu',
    ),
    'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1',
  ],
  [
    'one million "a"',
    new Uint8Array(1_000_000).fill(0x61),
    'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0',
  ],
];

describe('sha256Pure', () => {
  for (const [name, input, want] of NIST_VECTORS) {
    it(`hashes ${name} to the NIST digest`, () => {
      expect(hexFromBytes(sha256Pure(input))).toBe(want);
    });
  }

  it('matches node:crypto on every length across the padding boundaries (0..300 bytes)', () => {
    const random = seededBytes(1);
    for (let length = 0; length <= 300; length++) {
      const data = random(length);
      expect(hexFromBytes(sha256Pure(data)), `length ${length}`).toBe(nodeHex(data));
    }
  });

  it('matches node:crypto on random inputs up to 64 KiB', () => {
    const random = seededBytes(2);
    for (let i = 0; i < 50; i++) {
      const data = random(random(2).reduce((a, b) => a * 256 + b, 0));
      expect(hexFromBytes(sha256Pure(data))).toBe(nodeHex(data));
    }
  });

  it('hashes a subarray view by its own bytes, not its underlying buffer', () => {
    const buffer = ascii('xxabcxx');
    expect(hexFromBytes(sha256Pure(buffer.subarray(2, 5)))).toBe(NIST_VECTORS[0]![2]);
  });
});

describe('sha256', () => {
  it('uses node:crypto on this Node (process.getBuiltinModule exists since 20.16)', () => {
    expect(sha256Backend).toBe('node:crypto');
    expect(detectNodeSha256()).toBeTypeOf('function');
  });

  for (const [name, input, want] of NIST_VECTORS) {
    it(`hashes ${name} to the NIST digest`, () => {
      expect(hexFromBytes(sha256(input))).toBe(want);
    });
  }

  it('matches node:crypto and sha256Pure on 1,000 random inputs (digest bytes 0x00–0xff all decoded)', () => {
    const random = seededBytes(3);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const data = random(i % 200);
      const digest = sha256(data);
      for (const byte of digest) seen.add(byte);
      expect(hexFromBytes(digest)).toBe(nodeHex(data));
      expect(digest).toEqual(sha256Pure(data));
    }
    expect(seen.size).toBe(256);
  });

  it('returns a fresh array per call, so earlier digests never change', () => {
    const first = sha256(ascii('abc'));
    sha256(ascii('something else'));
    expect(hexFromBytes(first)).toBe(NIST_VECTORS[0]![2]);
  });

  it('returns a plain 32-byte Uint8Array, not a Buffer', () => {
    const digest = sha256(ascii('abc'));
    expect(digest.constructor).toBe(Uint8Array);
    expect(digest).toHaveLength(32);
  });
});
