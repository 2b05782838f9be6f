import nacl from 'tweetnacl';
import { AttestError } from './errors.js';
import { assertEd25519PublicKey, keyIdFromPublicKey } from './key-id.js';

/**
 * Ed25519 (RFC 8032 §5.1, pure Ed25519, no pre-hash) through tweetnacl, which runs unchanged in a
 * browser. Signatures are deterministic, so tweetnacl and node:crypto (`ed25519-node.ts`, the
 * fast path for bulk verification) produce byte-identical signatures for the same seed and message.
 */

/** RFC 8032 private key ("seed") length. */
export const ED25519_SEED_BYTES = 32;
/** RFC 8032 signature length. */
export const ED25519_SIGNATURE_BYTES = 64;

/** Verifies an Ed25519 `signature` of `message` under a 32-byte `publicKey`; never throws on bad signatures. */
export type Ed25519Verify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

/**
 * Something that signs with one Ed25519 key. Synchronous: tweetnacl and node:crypto both sign
 * synchronously, and a batch is signed once every few seconds.
 */
export interface Signer {
  /** The wattledger key id of `publicKey` (see `key-id.ts`). */
  readonly keyId: string;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** The 64-byte Ed25519 signature of `message`. */
  sign(message: Uint8Array): Uint8Array;
}

/** A raw Ed25519 key pair; `secretKey` is tweetnacl's 64-byte `seed ‖ publicKey`. */
export interface Ed25519KeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

/** Derives the key pair of a 32-byte RFC 8032 seed. Throws `ATTEST_KEY_INVALID` on a wrong length. */
export function ed25519KeyPairFromSeed(seed: Uint8Array): Ed25519KeyPair {
  if (seed.length !== ED25519_SEED_BYTES) {
    throw new AttestError('ATTEST_KEY_INVALID', `an Ed25519 seed is 32 bytes, got ${seed.length}`, {
      details: { sizeBytes: seed.length },
    });
  }
  const pair = nacl.sign.keyPair.fromSeed(seed);
  return { publicKey: pair.publicKey, secretKey: pair.secretKey };
}

/** Signs `message` with a 64-byte tweetnacl secret key; returns the 64-byte signature. */
export function ed25519Sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  if (secretKey.length !== nacl.sign.secretKeyLength) {
    throw new AttestError('ATTEST_KEY_INVALID', 'an Ed25519 secret key is 64 bytes (seed ‖ public key)');
  }
  return nacl.sign.detached(message, secretKey);
}

/**
 * Verifies with tweetnacl. `signature` and `message` are attacker-controlled: a signature of the
 * wrong length is `false`, not an exception. `publicKey` comes from trust configuration, so a
 * wrong length there is a programming error and throws `ATTEST_KEY_INVALID`.
 */
export const ed25519Verify: Ed25519Verify = (publicKey, message, signature) => {
  assertEd25519PublicKey(publicKey);
  if (signature.length !== ED25519_SIGNATURE_BYTES) return false;
  return nacl.sign.detached.verify(message, signature, publicKey);
};

/** A {@link Signer} over tweetnacl for the key of a 32-byte seed. */
export function tweetnaclSigner(seed: Uint8Array): Signer {
  const { publicKey, secretKey } = ed25519KeyPairFromSeed(seed);
  return {
    keyId: keyIdFromPublicKey(publicKey),
    publicKey,
    sign: (message) => nacl.sign.detached(message, secretKey),
  };
}
