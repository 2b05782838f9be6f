/**
 * The trusted-keys document and bare `--key` arguments: every key form, validity windows, strict
 * validation that reports all problems at once, duplicates, and that nothing echoes key material.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { base64FromBytes, bytesFromHex, hexFromBytes } from '../../../src/attest/bytes.js';
import { ed25519KeyPairFromSeed } from '../../../src/attest/ed25519.js';
import {
  formatVerifierKey,
  keyIdFromPublicKey,
  pemFromEd25519PublicKey,
} from '../../../src/attest/key-id.js';
import {
  KeyError,
  parseTrustedKeys,
  type TrustedKey,
  trustedKeyFromText,
  unixNanosFromRfc3339,
} from '../../../src/keys/trusted-keys.js';

const PUB_A = ed25519KeyPairFromSeed(new Uint8Array(32).fill(1)).publicKey;
const PUB_B = ed25519KeyPairFromSeed(new Uint8Array(32).fill(2)).publicKey;
const NS = 1_000_000_000n;

function doc(keys: unknown): string {
  return JSON.stringify({ keys });
}

function keyError(fn: () => unknown): KeyError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(KeyError);
    return error as KeyError;
  }
  throw new Error('expected a KeyError');
}

describe('trustedKeyFromText', () => {
  const forms: [string, string][] = [
    ['raw base64', base64FromBytes(PUB_A)],
    ['raw hex', hexFromBytes(PUB_A)],
    ['PEM', pemFromEd25519PublicKey(PUB_A)],
    [
      'PEM with CRLF and surrounding space',
      `\n ${pemFromEd25519PublicKey(PUB_A).replaceAll('\n', '\r\n')}  `,
    ],
    ['C2SP verifier key', formatVerifierKey('example.com/energy/node-1', PUB_A)],
  ];
  for (const [form, text] of forms) {
    it(`accepts ${form}`, () => {
      const key = trustedKeyFromText(text);
      expect(key.publicKey).toEqual(PUB_A);
      expect(key.keyId).toBe(keyIdFromPublicKey(PUB_A));
      expect(key.source).toBe('trusted');
      expect(key.validFromUnixNanos).toBeUndefined();
      expect(key.validUntilUnixNanos).toBeUndefined();
    });
  }

  it('keeps the verifier key name of a C2SP key (checkpoints are verified by name)', () => {
    const key = trustedKeyFromText(formatVerifierKey('example.com/log', PUB_A));
    expect(key.verifierKey?.name).toBe('example.com/log');
    expect(trustedKeyFromText(base64FromBytes(PUB_A)).verifierKey).toBeUndefined();
  });

  it('accepts a PEM written by node:crypto (openssl layout)', () => {
    const pem = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(trustedKeyFromText(pem).publicKey).toHaveLength(32);
  });

  it('refuses garbage with KEY_INVALID', () => {
    for (const text of ['', 'hello', base64FromBytes(new Uint8Array(31)), 'name+00000000+AAAA']) {
      expect(keyError(() => trustedKeyFromText(text)).code).toBe('KEY_INVALID');
    }
  });

  it('calls out a private key without echoing it', () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const error = keyError(() => trustedKeyFromText(pem));
    expect(error.message).toMatch(/private key/);
    const body = pem.split('\n')[1]!;
    expect(`${error.message} ${error.hint}`).not.toContain(body);
    expect(`${error.message} ${error.hint}`).not.toContain(body.slice(10, 30));
  });
});

describe('unixNanosFromRfc3339', () => {
  it('parses UTC, offsets and fractions exactly', () => {
    expect(unixNanosFromRfc3339('1970-01-01T00:00:00Z')).toBe(0n);
    expect(unixNanosFromRfc3339('2026-01-01T00:00:00Z')).toBe(BigInt(Date.UTC(2026, 0, 1) / 1000) * NS);
    expect(unixNanosFromRfc3339('2026-01-01T01:00:00+01:00')).toBe(
      unixNanosFromRfc3339('2026-01-01T00:00:00Z'),
    );
    expect(unixNanosFromRfc3339('2025-12-31T19:30:00-04:30')).toBe(
      unixNanosFromRfc3339('2026-01-01T00:00:00Z'),
    );
    expect(unixNanosFromRfc3339('1970-01-01T00:00:01.000000001Z')).toBe(NS + 1n);
    expect(unixNanosFromRfc3339('1969-12-31T23:59:59.5z')).toBe(-NS / 2n);
    expect(unixNanosFromRfc3339('2024-02-29T12:00:00Z')).toBe(BigInt(Date.UTC(2024, 1, 29, 12) / 1000) * NS);
  });

  it('agrees with Date over many days', () => {
    for (let day = -800; day < 30_000; day += 37) {
      const ms = day * 86_400_000 + 12_345_000;
      expect(unixNanosFromRfc3339(new Date(ms).toISOString())).toBe(BigInt(ms) * 1_000_000n);
    }
  });

  it('refuses what is not an RFC 3339 date-time', () => {
    for (const text of [
      '2026-01-01',
      '2026-01-01T00:00:00',
      '2026-01-01 00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2025-02-29T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T00:60:00Z',
      '2026-01-01T00:00:60Z',
      '2026-01-01T00:00:00.Z',
      '2026-01-01T00:00:00.1234567890Z',
      '2026-01-01T00:00:00+24:00',
      ' 2026-01-01T00:00:00Z',
    ]) {
      expect(unixNanosFromRfc3339(text), text).toBeNull();
    }
  });
});

describe('parseTrustedKeys', () => {
  it('parses keys in every form with half-open windows and notes', () => {
    const keys = parseTrustedKeys(
      doc([
        {
          publicKey: formatVerifierKey('example.com/log', PUB_A),
          validFrom: '2026-01-01T00:00:00Z',
          validUntil: '2026-07-01T00:00:00Z',
          note: 'first key',
        },
        { publicKey: pemFromEd25519PublicKey(PUB_B), validFrom: '2026-06-01T00:00:00+02:00' },
      ]),
    );
    expect(keys).toHaveLength(2);
    const [a, b] = keys as [TrustedKey, TrustedKey];
    expect(a.publicKey).toEqual(PUB_A);
    expect(a.validFromUnixNanos).toBe(unixNanosFromRfc3339('2026-01-01T00:00:00Z'));
    expect(a.validUntilUnixNanos).toBe(unixNanosFromRfc3339('2026-07-01T00:00:00Z'));
    expect(a.note).toBe('first key');
    expect(a.verifierKey?.name).toBe('example.com/log');
    expect(b.keyId).toBe(keyIdFromPublicKey(PUB_B));
    expect(b.validFromUnixNanos).toBe(unixNanosFromRfc3339('2026-05-31T22:00:00Z'));
    expect('validUntilUnixNanos' in b).toBe(false);
    expect('note' in b).toBe(false);
    expect(b.source).toBe('trusted');
  });

  it('accepts a key with no window (trusted at all times)', () => {
    const [key] = parseTrustedKeys(doc([{ publicKey: hexFromBytes(PUB_A) }]));
    expect(key?.validFromUnixNanos).toBeUndefined();
    expect(key?.validUntilUnixNanos).toBeUndefined();
  });

  it('refuses an empty or inverted window', () => {
    for (const validUntil of ['2026-01-01T00:00:00Z', '2025-12-31T23:59:59Z']) {
      const error = keyError(() =>
        parseTrustedKeys(
          doc([{ publicKey: base64FromBytes(PUB_A), validFrom: '2026-01-01T00:00:00Z', validUntil }]),
        ),
      );
      expect(error.problems.map((p) => p.path)).toEqual(['$.keys[0].validUntil']);
    }
  });

  it('lists every problem of a malformed document at once', () => {
    const error = keyError(() =>
      parseTrustedKeys(
        JSON.stringify({
          version: 1,
          keys: [
            { publicKey: 'not a key', validFrom: 'yesterday', extra: true },
            { validUntil: 12, note: 5 },
            'a string',
            { publicKey: base64FromBytes(PUB_B), validUntill: '2027-01-01T00:00:00Z' },
          ],
        }),
      ),
    );
    expect(error.code).toBe('KEY_INVALID');
    expect(error.problems.map((p) => p.path).sort()).toEqual(
      [
        '$.version',
        '$.keys[0].publicKey',
        '$.keys[0].validFrom',
        '$.keys[0].extra',
        '$.keys[1].publicKey',
        '$.keys[1].validUntil',
        '$.keys[1].note',
        '$.keys[2]',
        '$.keys[3].validUntill',
      ].sort(),
    );
    for (const p of error.problems) expect(error.message).toContain(p.path);
    expect(error.hint).toMatch(/"keys"/);
  });

  it('refuses documents of the wrong shape', () => {
    const cases: [string, string][] = [
      ['{', '$'],
      ['[]', '$'],
      ['null', '$'],
      ['{}', '$.keys'],
      ['{"keys":[]}', '$.keys'],
      ['{"keys":{}}', '$.keys'],
    ];
    for (const [text, path] of cases) {
      expect(
        keyError(() => parseTrustedKeys(text)).problems.map((p) => p.path),
        text,
      ).toEqual([path]);
    }
  });

  it('refuses a key listed twice, in any two forms', () => {
    const error = keyError(() =>
      parseTrustedKeys(
        doc([
          { publicKey: base64FromBytes(PUB_A) },
          { publicKey: base64FromBytes(PUB_B) },
          { publicKey: formatVerifierKey('other.example/log', PUB_A), validFrom: '2030-01-01T00:00:00Z' },
        ]),
      ),
    );
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]?.path).toBe('$.keys[2].publicKey');
    expect(error.problems[0]?.expected).toContain('$.keys[0]');
    expect(error.problems[0]?.found).toContain(keyIdFromPublicKey(PUB_A));
  });

  it('never echoes a private key pasted as a public key', () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const seedHex = hexFromBytes(bytesFromHex('11'.repeat(32)));
    const error = keyError(() => parseTrustedKeys(doc([{ publicKey: pem }, { publicKey: `${seedHex}00` }])));
    const text = JSON.stringify({ message: error.message, problems: error.problems, hint: error.hint });
    expect(text).not.toContain(pem.split('\n')[1]!.slice(0, 20));
    expect(text).not.toContain(seedHex);
    expect(error.problems).toHaveLength(2);
  });
});

describe('browser safety', () => {
  it('trusted-keys.ts imports no node: module and no file system', () => {
    const path = fileURLToPath(new URL('../../../src/keys/trusted-keys.ts', import.meta.url));
    const specifiers = [...readFileSync(path, 'utf8').matchAll(/^import\s[^'"]*?from\s+'([^']+)';/gms)].map(
      (m) => m[1],
    );
    expect(specifiers.length).toBeGreaterThan(0);
    for (const specifier of specifiers) {
      expect(['../attest/errors.js', '../attest/key-id.js', '../errors.js']).toContain(specifier);
    }
  });
});
