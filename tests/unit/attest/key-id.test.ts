import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bytesFromBase64, hexFromBytes } from '../../../src/attest/bytes.js';
import { ed25519KeyPairFromSeed } from '../../../src/attest/ed25519.js';
import {
  ed25519PublicKeyFromPem,
  ed25519PublicKeyFromSpkiDer,
  formatVerifierKey,
  isValidKeyName,
  keyHashHex,
  keyIdFromPublicKey,
  parsePublicKey,
  parseVerifierKey,
  pemFromEd25519PublicKey,
  signedNoteKeyHash,
  spkiDerFromEd25519PublicKey,
} from '../../../src/attest/key-id.js';

// golang.org/x/mod sumdb/note/note_test.go (TestNewVerifier, TestNewSigner, TestVerifierList).
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const PETER_SKEY_BASE64 = 'AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'; // 0x01 ‖ seed
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
// c2sp.org/signed-note example key, and the Go command's built-in sum.golang.org key.
const C2SP_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const SUMDB_VKEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8';

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
};

describe('C2SP verifier keys', () => {
  for (const [vkey, name, hash] of [
    [PETER_VKEY, 'PeterNeumann', 'c74f20a3'],
    [ENOCH_VKEY, 'EnochRoot', 'af0cfe78'],
    [C2SP_VKEY, 'example.com/foo', '530d903a'],
    [SUMDB_VKEY, 'sum.golang.org', '033de0ae'],
  ] as const) {
    it(`parses ${name}+${hash} and formats it back byte for byte`, () => {
      const key = parseVerifierKey(vkey);
      expect(key.name).toBe(name);
      expect(keyHashHex(key.keyHash)).toBe(hash);
      expect(key.publicKey).toHaveLength(32);
      expect(formatVerifierKey(key.name, key.publicKey)).toBe(vkey);
    });
  }

  it('splits on the first two "+" only, since the base64 part may contain "+"', () => {
    expect(SUMDB_VKEY.split('+')).toHaveLength(5);
    expect(parseVerifierKey(SUMDB_VKEY).keyHash).toBe(0x033de0ae);
  });

  it('derives the PeterNeumann public key from the seed of the Go signer key', () => {
    const typedSeed = bytesFromBase64(PETER_SKEY_BASE64);
    expect(typedSeed[0]).toBe(0x01);
    const { publicKey } = ed25519KeyPairFromSeed(typedSeed.slice(1));
    expect(hexFromBytes(publicKey)).toBe(hexFromBytes(parseVerifierKey(PETER_VKEY).publicKey));
    expect(signedNoteKeyHash('PeterNeumann', publicKey)).toBe(0xc74f20a3);
  });

  it('computes the key hash as SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)[:4], big-endian', () => {
    const { publicKey } = parseVerifierKey(C2SP_VKEY);
    const digest = createHash('sha256')
      .update(Buffer.concat([Buffer.from('example.com/foo\n'), Buffer.of(0x01), publicKey]))
      .digest();
    expect(signedNoteKeyHash('example.com/foo', publicKey)).toBe(digest.readUInt32BE(0));
  });

  it('rejects every proper substring and every single-byte change of a verifier key (Go TestNewVerifier)', () => {
    for (let i = 0; i <= PETER_VKEY.length; i++) {
      for (let j = i + 1; j <= PETER_VKEY.length; j++) {
        if (i === 0 && j === PETER_VKEY.length) continue;
        expect(
          codeOf(() => parseVerifierKey(PETER_VKEY.slice(i, j))),
          PETER_VKEY.slice(i, j),
        ).toBe('ATTEST_KEY_INVALID');
      }
    }
    for (let i = 0; i < PETER_VKEY.length; i++) {
      const changed =
        PETER_VKEY.slice(0, i) + String.fromCharCode(PETER_VKEY.charCodeAt(i) + 1) + PETER_VKEY.slice(i + 1);
      expect(
        codeOf(() => parseVerifierKey(changed)),
        changed,
      ).toBe('ATTEST_KEY_INVALID');
    }
  });

  it('rejects a key of the wrong length and an unknown algorithm, even with adjusted key hashes', () => {
    expect(
      codeOf(() =>
        parseVerifierKey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=='),
      ),
    ).toBe('ATTEST_KEY_INVALID');
    expect(
      codeOf(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')),
    ).toBe('ATTEST_KEY_INVALID');
  });

  it('rejects an uppercase key hash (Go writes %08x)', () => {
    expect(
      codeOf(() => parseVerifierKey('PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')),
    ).toBe('ATTEST_KEY_INVALID');
  });

  it('zero-pads key hashes to eight hex digits', () => {
    expect(keyHashHex(0x33de0ae)).toBe('033de0ae');
    expect(keyHashHex(0)).toBe('00000000');
  });
});

describe('key names', () => {
  it('accept schema-less URLs and non-ASCII letters', () => {
    expect(isValidKeyName('example.com/energy/node-7')).toBe(true);
    expect(isValidKeyName('ünïcødé')).toBe(true);
  });

  for (const bad of ['', 'a b', 'a+b', 'a\tb', 'a\u00a0b', 'a\u0085b', 'a\u2028b', 'a\u3000b', 'a\u0001b']) {
    it(`reject ${JSON.stringify(bad)}`, () => {
      expect(isValidKeyName(bad)).toBe(false);
    });
  }
});

describe('SPKI, PEM and the wattledger key id', () => {
  const { publicKey: nodePublic } = generateKeyPairSync('ed25519');
  const spki = new Uint8Array(nodePublic.export({ format: 'der', type: 'spki' }));
  const raw = spki.slice(12);

  it('builds the same DER SubjectPublicKeyInfo as node:crypto, and reads it back', () => {
    expect(hexFromBytes(spkiDerFromEd25519PublicKey(raw))).toBe(hexFromBytes(spki));
    expect(hexFromBytes(spki.slice(0, 12))).toBe('302a300506032b6570032100');
    expect(hexFromBytes(ed25519PublicKeyFromSpkiDer(spki))).toBe(hexFromBytes(raw));
  });

  it('writes PEM exactly as node:crypto exports it, and reads LF and CRLF PEM', () => {
    const pem = nodePublic.export({ format: 'pem', type: 'spki' }).toString();
    expect(pemFromEd25519PublicKey(raw)).toBe(pem);
    expect(hexFromBytes(ed25519PublicKeyFromPem(pem))).toBe(hexFromBytes(raw));
    expect(hexFromBytes(ed25519PublicKeyFromPem(pem.replaceAll('\n', '\r\n')))).toBe(hexFromBytes(raw));
    expect(createPublicKey(pemFromEd25519PublicKey(raw)).asymmetricKeyType).toBe('ed25519');
  });

  it('defines the key id as lowercase hex SHA-256 of the SPKI DER', () => {
    expect(keyIdFromPublicKey(raw)).toBe(createHash('sha256').update(spki).digest('hex'));
    expect(keyIdFromPublicKey(raw)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rejects DER of other key types and malformed PEM', () => {
    const ecSpki = new Uint8Array(
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }),
    );
    expect(codeOf(() => ed25519PublicKeyFromSpkiDer(ecSpki))).toBe('ATTEST_KEY_INVALID');
    expect(codeOf(() => ed25519PublicKeyFromSpkiDer(spki.slice(0, 43)))).toBe('ATTEST_KEY_INVALID');
    const pem = pemFromEd25519PublicKey(raw);
    expect(
      codeOf(() => ed25519PublicKeyFromPem(pem.replace('PUBLIC KEY-----\n', 'PRIVATE KEY-----\n'))),
    ).toBe('ATTEST_KEY_INVALID');
    expect(codeOf(() => ed25519PublicKeyFromPem(pem.replace(/\n(.)/, '\n!')))).toBe('ATTEST_KEY_INVALID');
    expect(codeOf(() => spkiDerFromEd25519PublicKey(new Uint8Array(31)))).toBe('ATTEST_KEY_INVALID');
  });
});

describe('parsePublicKey', () => {
  const c2sp = parseVerifierKey(C2SP_VKEY);
  const forms = {
    'a C2SP verifier key': C2SP_VKEY,
    'PEM SPKI': pemFromEd25519PublicKey(c2sp.publicKey),
    'raw base64': Buffer.from(c2sp.publicKey).toString('base64'),
    'raw hex': hexFromBytes(c2sp.publicKey),
  };
  for (const [form, text] of Object.entries(forms)) {
    it(`reads ${form} to the same key and key id`, () => {
      const parsed = parsePublicKey(`  ${text}\n`);
      expect(hexFromBytes(parsed.publicKey)).toBe(hexFromBytes(c2sp.publicKey));
      expect(parsed.keyId).toBe(keyIdFromPublicKey(c2sp.publicKey));
    });
  }

  it('keeps the note name and key hash of a verifier key', () => {
    expect(parsePublicKey(C2SP_VKEY).note).toEqual(c2sp);
    expect(parsePublicKey(forms['raw hex']).note).toBeUndefined();
  });

  it('rejects garbage in every form', () => {
    for (const bad of [
      '',
      'not a key',
      `${forms['raw base64'].slice(0, 43)}!`,
      forms['raw hex'].toUpperCase(),
    ]) {
      expect(
        codeOf(() => parsePublicKey(bad)),
        bad,
      ).toBe('ATTEST_KEY_INVALID');
    }
  });
});
