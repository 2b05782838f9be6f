import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { base64FromBytes, bytesFromHex } from '../../../src/attest/bytes.js';
import { canonicalBytes } from '../../../src/attest/canonical.js';
import { DSSE_MAX_SIGNATURES, preAuthEncoding, signDsse, verifyDsse } from '../../../src/attest/dsse.js';
import { tweetnaclSigner } from '../../../src/attest/ed25519.js';
import { createNodeEd25519Verify } from '../../../src/attest/ed25519-node.js';
import { pemFromEd25519PublicKey } from '../../../src/attest/key-id.js';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const ascii = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const TYPE = 'application/vnd.in-toto+json';
// RFC 8032 TEST 1 and TEST 2 seeds: two independent keys.
const alice = tweetnaclSigner(
  bytesFromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'),
);
const bob = tweetnaclSigner(bytesFromHex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb'));
const payload = canonicalBytes({ _type: 'https://in-toto.io/Statement/v1', predicate: { sequence: 42 } });

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
};

describe('preAuthEncoding', () => {
  it('reproduces the DSSE protocol.md test vector', () => {
    expect(ascii(preAuthEncoding('http://example.com/HelloWorld', utf8('hello world')))).toBe(
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
  });

  it('counts UTF-8 bytes, not UTF-16 characters, and handles an empty body', () => {
    expect(ascii(preAuthEncoding('ü', new Uint8Array(0)))).toBe('DSSEv1 2 ü 0 ');
  });

  it('frames binary bodies without interpreting them', () => {
    const pae = preAuthEncoding('t', Uint8Array.of(0x00, 0xff, 0x20));
    expect([...pae.slice(-3)]).toEqual([0x00, 0xff, 0x20]);
    expect(ascii(pae.slice(0, -3))).toBe('DSSEv1 1 t 3 ');
  });
});

describe('signDsse and verifyDsse', () => {
  const envelope = signDsse(TYPE, payload, [alice]);

  it('signs PAE(type, payload) so that plain node:crypto verifies it', () => {
    const pae = Buffer.from(`DSSEv1 ${TYPE.length} ${TYPE} ${payload.length} ${ascii(payload)}`);
    const sig = Buffer.from(envelope.signatures[0]!.sig, 'base64');
    expect(nodeVerify(null, pae, createPublicKey(pemFromEd25519PublicKey(alice.publicKey)), sig)).toBe(true);
    expect(envelope).toEqual({
      payloadType: TYPE,
      payload: base64FromBytes(payload),
      signatures: [expect.anything()],
    });
    expect(envelope.signatures[0]!.keyid).toBe(alice.keyId);
  });

  it('returns the payload bytes and the key ids that verified', () => {
    const verified = verifyDsse(envelope, [bob.publicKey, alice.publicKey], { expectedPayloadType: TYPE });
    expect(verified.payload).toEqual(payload);
    expect(verified.payloadType).toBe(TYPE);
    expect(verified.keyIds).toEqual([alice.keyId]);
  });

  it('verifies the same envelope with the node:crypto fast path', () => {
    expect(verifyDsse(envelope, [alice.publicKey], { verify: createNodeEd25519Verify() }).keyIds).toEqual([
      alice.keyId,
    ]);
  });

  // The per-byte loops use the node:crypto verifier (identical results, ~100× faster than tweetnacl).
  const fast = { verify: createNodeEd25519Verify() };

  it('catches a flip of every bit position in every payload byte', () => {
    for (let i = 0; i < payload.length; i++) {
      const tampered = payload.slice();
      tampered[i]! ^= 1 << (i % 8);
      const bad = { ...envelope, payload: base64FromBytes(tampered) };
      expect(
        codeOf(() => verifyDsse(bad, [alice.publicKey], fast)),
        `byte ${i}`,
      ).toBe('ATTEST_SIGNATURE_INVALID');
    }
  });

  it('catches a flip of every signature byte', () => {
    const sig = Buffer.from(envelope.signatures[0]!.sig, 'base64');
    for (let i = 0; i < sig.length; i++) {
      const tampered = Buffer.from(sig);
      tampered[i]! ^= 0x01;
      const bad = { ...envelope, signatures: [{ keyid: alice.keyId, sig: tampered.toString('base64') }] };
      expect(
        codeOf(() => verifyDsse(bad, [alice.publicKey], fast)),
        `byte ${i}`,
      ).toBe('ATTEST_SIGNATURE_INVALID');
    }
  });

  it('catches a changed payloadType, which the PAE covers', () => {
    expect(
      codeOf(() => verifyDsse({ ...envelope, payloadType: 'application/json' }, [alice.publicKey])),
    ).toBe('ATTEST_SIGNATURE_INVALID');
  });

  it('rejects an envelope signed by a key that is not trusted', () => {
    expect(codeOf(() => verifyDsse(envelope, [bob.publicKey]))).toBe('ATTEST_DSSE_UNTRUSTED');
    expect(codeOf(() => verifyDsse(envelope, []))).toBe('ATTEST_DSSE_UNTRUSTED');
  });

  it('treats keyid only as a hint: an absent or empty keyid still verifies, a wrong one finds no key', () => {
    const sig = envelope.signatures[0]!.sig;
    expect(
      verifyDsse({ ...envelope, signatures: [{ sig }] }, [bob.publicKey, alice.publicKey]).keyIds,
    ).toEqual([alice.keyId]);
    expect(verifyDsse({ ...envelope, signatures: [{ keyid: '', sig }] }, [alice.publicKey]).keyIds).toEqual([
      alice.keyId,
    ]);
    expect(
      codeOf(() =>
        verifyDsse({ ...envelope, signatures: [{ keyid: bob.keyId, sig }] }, [
          alice.publicKey,
          bob.publicKey,
        ]),
      ),
    ).toBe('ATTEST_SIGNATURE_INVALID');
  });

  it('rejects a payloadType other than the expected one', () => {
    expect(codeOf(() => verifyDsse(envelope, [alice.publicKey], { expectedPayloadType: 'x' }))).toBe(
      'ATTEST_DSSE_PAYLOAD_TYPE_MISMATCH',
    );
  });

  it('counts distinct trusted keys against a threshold', () => {
    const both = signDsse(TYPE, payload, [alice, bob]);
    expect(verifyDsse(both, [alice.publicKey, bob.publicKey], { threshold: 2 }).keyIds).toEqual([
      alice.keyId,
      bob.keyId,
    ]);
    const twiceAlice = { ...envelope, signatures: [envelope.signatures[0]!, envelope.signatures[0]!] };
    expect(codeOf(() => verifyDsse(twiceAlice, [alice.publicKey, bob.publicKey], { threshold: 2 }))).toBe(
      'ATTEST_DSSE_UNTRUSTED',
    );
    expect(() => verifyDsse(envelope, [alice.publicKey], { threshold: 0 })).toThrow(RangeError);
  });

  it('accepts URL-safe unpadded base64, as DSSE requires of verifiers', () => {
    const urlSafe = {
      ...envelope,
      payload: Buffer.from(payload).toString('base64url'),
      signatures: [
        { keyid: alice.keyId, sig: Buffer.from(envelope.signatures[0]!.sig, 'base64').toString('base64url') },
      ],
    };
    expect(verifyDsse(urlSafe, [alice.publicKey]).payload).toEqual(payload);
  });

  it('ignores unknown envelope fields', () => {
    expect(verifyDsse({ ...envelope, extra: { anything: true } }, [alice.publicKey]).payload).toEqual(
      payload,
    );
  });
});

describe('verifyDsse on malformed input', () => {
  const envelope = signDsse(TYPE, payload, [alice]);
  const sig = envelope.signatures[0]!;
  const cases: Record<string, unknown> = {
    null: null,
    'an array': [envelope],
    'a missing payload': { payloadType: TYPE, signatures: [sig] },
    'a numeric payloadType': { ...envelope, payloadType: 7 },
    'no signatures': { ...envelope, signatures: [] },
    'signatures that are not an array': { ...envelope, signatures: sig },
    'a signature without sig': { ...envelope, signatures: [{ keyid: sig.keyid }] },
    'a numeric keyid': { ...envelope, signatures: [{ keyid: 1, sig: sig.sig }] },
    'a null signature entry': { ...envelope, signatures: [null] },
    'too many signatures': { ...envelope, signatures: Array(DSSE_MAX_SIGNATURES + 1).fill(sig) },
    'payload base64 with a newline': { ...envelope, payload: `${envelope.payload}\n` },
    'payload base64 with garbage': { ...envelope, payload: `!${envelope.payload.slice(1)}` },
    'payload base64 with non-zero trailing bits': { ...envelope, payload: 'QR==' },
    'signature base64 garbage': { ...envelope, signatures: [{ keyid: sig.keyid, sig: '***' }] },
    'a lone surrogate in payloadType': { ...envelope, payloadType: '\ud800' },
  };
  for (const [name, value] of Object.entries(cases)) {
    it(`rejects ${name} with ATTEST_DSSE_MALFORMED`, () => {
      expect(codeOf(() => verifyDsse(value, [alice.publicKey]))).toBe('ATTEST_DSSE_MALFORMED');
    });
  }

  it('refuses a payload over the size limit before verifying anything', () => {
    expect(
      codeOf(() => verifyDsse(envelope, [alice.publicKey], { maxPayloadBytes: payload.length - 1 })),
    ).toBe('ATTEST_DSSE_MALFORMED');
    expect(verifyDsse(envelope, [alice.publicKey], { maxPayloadBytes: payload.length }).payload).toEqual(
      payload,
    );
  });

  it('refuses to sign without a signer, or with a signer that returns a wrong-length signature', () => {
    expect(codeOf(() => signDsse(TYPE, payload, []))).toBe('ATTEST_DSSE_MALFORMED');
    const broken = { ...alice, sign: () => new Uint8Array(63) };
    expect(codeOf(() => signDsse(TYPE, payload, [broken]))).toBe('ATTEST_SIGNATURE_INVALID');
  });
});
