import { createHash, generateKeyPairSync, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bytesFromHex, hexFromBytes } from '../../../src/attest/bytes.js';
import {
  ed25519KeyPairFromSeed,
  ed25519Sign,
  ed25519Verify,
  tweetnaclSigner,
} from '../../../src/attest/ed25519.js';
import {
  createNodeEd25519Verify,
  nodePrivateKeyFromSeed,
  nodeSigner,
} from '../../../src/attest/ed25519-node.js';
import { keyIdFromPublicKey } from '../../../src/attest/key-id.js';
import { seededBytes } from './prng.js';

// RFC 8032 §7.1, TEST 1 and TEST 2.
const RFC8032 = [
  {
    name: 'TEST 1 (empty message)',
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2 (one byte 0x72)',
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
] as const;

describe('ed25519 against RFC 8032 §7.1', () => {
  const nodeVerifyFn = createNodeEd25519Verify();
  for (const v of RFC8032) {
    it(`derives the public key and signature of ${v.name} with tweetnacl and node:crypto alike`, () => {
      const seed = bytesFromHex(v.seed);
      const message = bytesFromHex(v.message);
      const pair = ed25519KeyPairFromSeed(seed);
      expect(hexFromBytes(pair.publicKey)).toBe(v.publicKey);
      expect(hexFromBytes(ed25519Sign(pair.secretKey, message))).toBe(v.signature);
      const signer = nodeSigner(nodePrivateKeyFromSeed(seed));
      expect(hexFromBytes(signer.publicKey)).toBe(v.publicKey);
      expect(hexFromBytes(signer.sign(message))).toBe(v.signature);
    });

    it(`verifies ${v.name} and rejects it after any single bit flip`, () => {
      const publicKey = bytesFromHex(v.publicKey);
      const message = bytesFromHex(v.message);
      const signature = bytesFromHex(v.signature);
      expect(ed25519Verify(publicKey, message, signature)).toBe(true);
      expect(nodeVerifyFn(publicKey, message, signature)).toBe(true);
      for (let bit = 0; bit < signature.length * 8; bit += 7) {
        const bad = signature.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        expect(ed25519Verify(publicKey, message, bad)).toBe(false);
        expect(nodeVerifyFn(publicKey, message, bad)).toBe(false);
      }
    });
  }
});

describe('tweetnacl and node:crypto', () => {
  it('produce byte-identical signatures that cross-verify, for 100 random seeds and messages', () => {
    const random = seededBytes(8032);
    const nodeVerifyFn = createNodeEd25519Verify();
    for (let i = 0; i < 100; i++) {
      const seed = random(32);
      const message = random(random(1)[0]! * 4);
      const nacl = tweetnaclSigner(seed);
      const node = nodeSigner(nodePrivateKeyFromSeed(seed));
      expect(hexFromBytes(node.publicKey)).toBe(hexFromBytes(nacl.publicKey));
      const naclSig = nacl.sign(message);
      const nodeSig = node.sign(message);
      expect(hexFromBytes(nodeSig)).toBe(hexFromBytes(naclSig));
      expect(nodeVerifyFn(nacl.publicKey, message, naclSig)).toBe(true);
      expect(ed25519Verify(node.publicKey, message, nodeSig)).toBe(true);
      const tampered =
        message.length > 0 ? message.map((b, j) => (j === 0 ? b ^ 0x80 : b)) : Uint8Array.of(0);
      expect(nodeVerifyFn(nacl.publicKey, tampered, naclSig)).toBe(false);
      // tweetnacl verifies at ~100/s; its rejection is sampled to keep the suite fast.
      if (i % 10 === 0) expect(ed25519Verify(nacl.publicKey, tampered, naclSig)).toBe(false);
    }
  });

  it('agree with the raw node:crypto API on a key node generated itself', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const signer = nodeSigner(privateKey);
    const message = new TextEncoder().encode('wattledger');
    const signature = signer.sign(message);
    expect(nodeVerify(null, message, publicKey, signature)).toBe(true);
    expect(hexFromBytes(signature)).toBe(nodeSign(null, message, privateKey).toString('hex'));
    expect(ed25519Verify(signer.publicKey, message, signature)).toBe(true);
    const spkiSha256 = createHash('sha256')
      .update(publicKey.export({ format: 'der', type: 'spki' }))
      .digest('hex');
    expect(signer.keyId).toBe(spkiSha256);
  });

  it('keep verifying correctly when the node KeyObject cache evicts keys', () => {
    const verify = createNodeEd25519Verify(2);
    const signers = [1, 2, 3].map((n) => tweetnaclSigner(new Uint8Array(32).fill(n)));
    const message = Uint8Array.of(1, 2, 3);
    for (let round = 0; round < 3; round++) {
      for (const s of signers) expect(verify(s.publicKey, message, s.sign(message))).toBe(true);
      expect(verify(signers[0]!.publicKey, message, signers[1]!.sign(message))).toBe(false);
    }
  });
});

describe('ed25519 argument checks', () => {
  it('gives tweetnacl signers the wattledger key id of their public key', () => {
    const signer = tweetnaclSigner(bytesFromHex(RFC8032[0].seed));
    expect(signer.keyId).toBe(keyIdFromPublicKey(bytesFromHex(RFC8032[0].publicKey)));
  });

  it('refuses seeds that are not 32 bytes with ATTEST_KEY_INVALID', () => {
    expect(() => ed25519KeyPairFromSeed(new Uint8Array(31))).toThrow(
      expect.objectContaining({ code: 'ATTEST_KEY_INVALID' }),
    );
    expect(() => nodePrivateKeyFromSeed(new Uint8Array(33))).toThrow(
      expect.objectContaining({ code: 'ATTEST_KEY_INVALID' }),
    );
    expect(() => ed25519Sign(new Uint8Array(32), new Uint8Array(0))).toThrow(
      expect.objectContaining({ code: 'ATTEST_KEY_INVALID' }),
    );
  });

  it('treats an attacker-supplied signature of the wrong length as invalid, not as an error', () => {
    const publicKey = bytesFromHex(RFC8032[0].publicKey);
    const short = bytesFromHex(RFC8032[0].signature).slice(0, 63);
    expect(ed25519Verify(publicKey, new Uint8Array(0), short)).toBe(false);
    expect(createNodeEd25519Verify()(publicKey, new Uint8Array(0), short)).toBe(false);
  });

  it('throws for a trusted public key of the wrong length (a configuration error)', () => {
    const signature = bytesFromHex(RFC8032[0].signature);
    expect(() => ed25519Verify(new Uint8Array(31), new Uint8Array(0), signature)).toThrow(
      expect.objectContaining({ code: 'ATTEST_KEY_INVALID' }),
    );
  });

  it('refuses node keys that are not Ed25519 private keys', () => {
    const { privateKey, publicKey } = generateKeyPairSync('x25519');
    expect(() => nodeSigner(privateKey)).toThrow(expect.objectContaining({ code: 'ATTEST_KEY_INVALID' }));
    expect(() => nodeSigner(publicKey)).toThrow(expect.objectContaining({ code: 'ATTEST_KEY_INVALID' }));
  });
});
