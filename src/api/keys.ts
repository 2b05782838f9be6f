import { base64FromBytes } from '../attest/bytes.js';
import { pemFromEd25519PublicKey } from '../attest/key-id.js';

/**
 * What `/v1/keys` serves. Only public halves exist here: the server is given public keys and
 * ids, never a signer, so it cannot leak a private key however a route is written.
 */

/** A public key of this log with its validity window ([validFrom, validUntil), RFC 3339). */
export interface ApiPublicKey {
  /** wattledger key id: hex SHA-256 of the DER SPKI. */
  readonly keyId: string;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** C2SP verifier key `<origin>+<hex8>+<base64>`; it verifies checkpoints too. */
  readonly verifierKey: string;
  readonly validFrom?: string;
  readonly validUntil?: string;
}

/** The keys the API publishes: the one signing now, and others (rotated out, announced). */
export interface ApiKeys {
  readonly current: ApiPublicKey;
  readonly announced?: readonly ApiPublicKey[];
}

/** One entry of the trusted-keys document the verifier reads (`wattledger verify --trusted-keys`). */
export interface TrustedKeyEntry {
  readonly publicKey: string;
  readonly validFrom?: string;
  readonly validUntil?: string;
  readonly note: string;
}

/** One key in every form (`?format=full`). */
export interface FullKeyEntry {
  readonly keyId: string;
  readonly role: 'current' | 'announced';
  readonly publicKeyBase64: string;
  readonly publicKeyPem: string;
  readonly verifierKey: string;
  readonly validFrom?: string;
  readonly validUntil?: string;
}

function validity(key: ApiPublicKey): { validFrom?: string; validUntil?: string } {
  return {
    ...(key.validFrom === undefined ? {} : { validFrom: key.validFrom }),
    ...(key.validUntil === undefined ? {} : { validUntil: key.validUntil }),
  };
}

function listed(keys: ApiKeys): { key: ApiPublicKey; role: 'current' | 'announced' }[] {
  const others = (keys.announced ?? []).filter((k) => k.keyId !== keys.current.keyId);
  return [
    { key: keys.current, role: 'current' },
    ...others.map((key) => ({ key, role: 'announced' as const })),
  ];
}

/**
 * The trusted-keys document, exactly the shape `parseTrustedKeys` accepts (which refuses unknown
 * members, so the other forms cannot ride along): keys as C2SP verifier keys, which carry the
 * name that checkpoints are signed under, with their windows.
 */
export function trustedKeysDocument(keys: ApiKeys): { keys: TrustedKeyEntry[] } {
  return {
    keys: listed(keys).map(({ key, role }) => ({
      publicKey: key.verifierKey,
      ...validity(key),
      note: `${role} key ${key.keyId}`,
    })),
  };
}

/** Every key in every form: raw base64, PEM, C2SP verifier key and key id. */
export function fullKeysDocument(keys: ApiKeys): { keys: FullKeyEntry[] } {
  return {
    keys: listed(keys).map(({ key, role }) => ({
      keyId: key.keyId,
      role,
      publicKeyBase64: base64FromBytes(key.publicKey),
      publicKeyPem: pemFromEd25519PublicKey(key.publicKey),
      verifierKey: key.verifierKey,
      ...validity(key),
    })),
  };
}
