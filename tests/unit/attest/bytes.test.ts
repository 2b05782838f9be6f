import { describe, expect, it } from 'vitest';
import {
  base64FromBytes,
  bytesFromBase64,
  bytesFromHex,
  constantTimeEqual,
  hexFromBytes,
  stringFromUtf8,
  utf8FromString,
} from '../../../src/attest/bytes.js';
import { seededBytes } from './prng.js';

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
};

describe('base64', () => {
  // RFC 4648 §10 test vectors.
  const rfc4648: readonly (readonly [string, string])[] = [
    ['', ''],
    ['f', 'Zg=='],
    ['fo', 'Zm8='],
    ['foo', 'Zm9v'],
    ['foob', 'Zm9vYg=='],
    ['fooba', 'Zm9vYmE='],
    ['foobar', 'Zm9vYmFy'],
  ];
  for (const [plain, encoded] of rfc4648) {
    it(`encodes and decodes the RFC 4648 vector "${plain}"`, () => {
      const bytes = new TextEncoder().encode(plain);
      expect(base64FromBytes(bytes)).toBe(encoded);
      expect(bytesFromBase64(encoded)).toEqual(bytes);
    });
  }

  it('round-trips random bytes identically to Buffer', () => {
    const random = seededBytes(4648);
    for (let n = 0; n < 200; n++) {
      const bytes = random(n);
      const text = base64FromBytes(bytes);
      expect(text).toBe(Buffer.from(bytes).toString('base64'));
      expect(bytesFromBase64(text)).toEqual(bytes);
      expect(bytesFromBase64(Buffer.from(bytes).toString('base64url'), { allowUrlSafe: true })).toEqual(
        bytes,
      );
    }
  });

  const rejected: readonly (readonly [string, string])[] = [
    ['missing padding', 'Zg'],
    ['too much padding', 'Zg==='],
    ['padding inside', 'Zg==Zg=='],
    ['a length of 4k+1', 'Zm9vY'],
    ['non-zero trailing bits ("Zh==" also decodes to "f")', 'Zh=='],
    ['non-zero trailing bits in a two-byte tail', 'Zm9='],
    ['whitespace', 'Zm9v\n'],
    ['a space inside', 'Zm 9v'],
    ['a character outside the alphabet', 'Zm9*'],
    ['a non-ASCII character', 'Zm9é'],
    ['the URL-safe alphabet when only standard is allowed', '-_-_'],
  ];
  for (const [name, text] of rejected) {
    it(`rejects ${name} with ATTEST_ENCODING_INVALID`, () => {
      expect(codeOf(() => bytesFromBase64(text))).toBe('ATTEST_ENCODING_INVALID');
    });
  }

  it('accepts URL-safe base64 with or without padding only when allowed, and never mixed alphabets', () => {
    expect(bytesFromBase64('-_8', { allowUrlSafe: true })).toEqual(Uint8Array.of(0xfb, 0xff));
    expect(bytesFromBase64('-_8=', { allowUrlSafe: true })).toEqual(Uint8Array.of(0xfb, 0xff));
    expect(codeOf(() => bytesFromBase64('-/8=', { allowUrlSafe: true }))).toBe('ATTEST_ENCODING_INVALID');
    expect(codeOf(() => bytesFromBase64('+/8', { allowUrlSafe: true }))).toBe('ATTEST_ENCODING_INVALID');
  });
});

describe('hex', () => {
  it('round-trips lowercase hex', () => {
    expect(hexFromBytes(Uint8Array.of(0, 1, 0xab, 0xff))).toBe('0001abff');
    expect(bytesFromHex('0001abff')).toEqual(Uint8Array.of(0, 1, 0xab, 0xff));
  });

  for (const bad of ['0', 'AB', 'zz', '0x00', ' 00']) {
    it(`rejects ${JSON.stringify(bad)}`, () => {
      expect(codeOf(() => bytesFromHex(bad))).toBe('ATTEST_ENCODING_INVALID');
    });
  }
});

describe('UTF-8', () => {
  it('rejects malformed UTF-8 instead of inserting U+FFFD', () => {
    for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0xaf]]) {
      expect(
        codeOf(() => stringFromUtf8(Uint8Array.from(bad))),
        String(bad),
      ).toBe('ATTEST_ENCODING_INVALID');
    }
  });

  it('keeps a leading byte-order mark as U+FEFF', () => {
    expect(stringFromUtf8(Uint8Array.of(0xef, 0xbb, 0xbf, 0x61))).toBe('\ufeffa');
  });

  it('refuses to encode a lone surrogate', () => {
    expect(codeOf(() => utf8FromString('a\ud800'))).toBe('ATTEST_ENCODING_INVALID');
    expect(utf8FromString('😀')).toEqual(Uint8Array.of(0xf0, 0x9f, 0x98, 0x80));
  });
});

describe('constantTimeEqual', () => {
  it('compares contents and lengths', () => {
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false);
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });
});
