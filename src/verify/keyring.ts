import { keyIdFromPublicKey } from '../attest/key-id.js';

/** A public key the verifier trusts, optionally only within [validFrom, validUntil). */
export interface VerifierKey {
  readonly keyId: string;
  readonly publicKey: Uint8Array;
  readonly validFromUnixNanos?: bigint;
  readonly validUntilUnixNanos?: bigint;
}

/** Why a key cannot vouch for a batch at a time. */
export type KeyWindowProblem = 'not-yet-valid' | 'expired';

/**
 * The keys a verification trusts: those given by the user, plus keys announced (rotation) inside
 * batches that themselves verified under an already trusted key.
 */
export class Keyring {
  private readonly keys = new Map<string, VerifierKey>();

  constructor(keys: readonly VerifierKey[]) {
    for (const key of keys) this.keys.set(key.keyId, key);
  }

  /** Every trusted public key (DSSE verification picks candidates by key id). */
  publicKeys(): Uint8Array[] {
    return [...this.keys.values()].map((k) => k.publicKey);
  }

  get(keyId: string): VerifierKey | undefined {
    return this.keys.get(keyId);
  }

  /** Null when `keyId` may sign at `unixNanos`, else why not. */
  windowProblem(keyId: string, unixNanos: bigint): KeyWindowProblem | null {
    const key = this.keys.get(keyId);
    if (!key) return 'not-yet-valid';
    if (key.validFromUnixNanos !== undefined && unixNanos < key.validFromUnixNanos) return 'not-yet-valid';
    if (key.validUntilUnixNanos !== undefined && unixNanos >= key.validUntilUnixNanos) return 'expired';
    return null;
  }

  /** Trusts a key announced by a verified batch, from `validFromUnixNanos` on. */
  announce(publicKey: Uint8Array, validFromUnixNanos: bigint): string {
    const keyId = keyIdFromPublicKey(publicKey);
    if (!this.keys.has(keyId)) this.keys.set(keyId, { keyId, publicKey, validFromUnixNanos });
    return keyId;
  }
}
