import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { concatBytes, hexFromBytes } from './bytes.js';
import { ED25519_SEED_BYTES, ED25519_SIGNATURE_BYTES, type Ed25519Verify, type Signer } from './ed25519.js';
import { AttestError } from './errors.js';
import {
  assertEd25519PublicKey,
  ed25519PublicKeyFromSpkiDer,
  keyIdFromPublicKey,
  spkiDerFromEd25519PublicKey,
} from './key-id.js';

/**
 * Ed25519 through node:crypto (OpenSSL): roughly 100× faster than tweetnacl (research/standards.md
 * §1.8), byte-identical output. Node-only — the browser-safe modules never import this file;
 * Node callers inject {@link createNodeEd25519Verify} where a function takes an `Ed25519Verify`.
 */

/** PKCS#8 DER prefix of an Ed25519 private key (RFC 8410 §7), followed by the 32-byte seed. */
const ED25519_PKCS8_PREFIX = Uint8Array.of(
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x04,
  0x22,
  0x04,
  0x20,
);

/** Default number of public keys whose KeyObjects are kept (trusted key sets are small). */
export const NODE_VERIFY_KEY_CACHE_SIZE = 64;

/**
 * An {@link Ed25519Verify} on node:crypto. Parsed KeyObjects are cached per public key, up to
 * `cacheSize` keys (oldest evicted), so bulk verification does not re-parse the same key.
 */
export function createNodeEd25519Verify(cacheSize = NODE_VERIFY_KEY_CACHE_SIZE): Ed25519Verify {
  const cache = new Map<string, KeyObject>();
  const keyObject = (publicKey: Uint8Array): KeyObject => {
    const id = hexFromBytes(publicKey);
    let key = cache.get(id);
    if (key === undefined) {
      key = createPublicKey({
        key: Buffer.from(spkiDerFromEd25519PublicKey(publicKey)),
        format: 'der',
        type: 'spki',
      });
      if (cache.size >= cacheSize) cache.delete(cache.keys().next().value as string);
      cache.set(id, key);
    }
    return key;
  };
  return (publicKey, message, signature) => {
    assertEd25519PublicKey(publicKey);
    // Attacker-controlled signature: a wrong length is a failed verification, not an exception.
    if (signature.length !== ED25519_SIGNATURE_BYTES) return false;
    return verify(null, message, keyObject(publicKey), signature);
  };
}

/** Node KeyObject of the Ed25519 private key with this 32-byte seed. */
export function nodePrivateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== ED25519_SEED_BYTES) {
    throw new AttestError('ATTEST_KEY_INVALID', `an Ed25519 seed is 32 bytes, got ${seed.length}`);
  }
  return createPrivateKey({
    key: Buffer.from(concatBytes(ED25519_PKCS8_PREFIX, seed)),
    format: 'der',
    type: 'pkcs8',
  });
}

/**
 * A {@link Signer} over a node:crypto Ed25519 private KeyObject (e.g. loaded from a PKCS#8 PEM
 * file or a systemd credential). Throws `ATTEST_KEY_INVALID` for a key of another type.
 */
export function nodeSigner(privateKey: KeyObject): Signer {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new AttestError('ATTEST_KEY_INVALID', 'expected an Ed25519 private key');
  }
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const publicKey = ed25519PublicKeyFromSpkiDer(new Uint8Array(spki));
  return {
    keyId: keyIdFromPublicKey(publicKey),
    publicKey,
    sign: (message) => new Uint8Array(sign(null, message, privateKey)),
  };
}
