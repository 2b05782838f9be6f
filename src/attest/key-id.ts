import {
  base64FromBytes,
  bytesFromBase64,
  bytesFromHex,
  concatBytes,
  hexFromBytes,
  utf8FromString,
} from './bytes.js';
import { AttestError } from './errors.js';
import { sha256 } from './sha256.js';

/**
 * Ed25519 public-key encodings and key identifiers, in every form a verifier is handed:
 * raw 32 bytes (base64 or hex), PEM / DER SubjectPublicKeyInfo (RFC 8410), and the C2SP
 * signed-note verifier key `<name>+<hex key hash>+<base64(0x01 ‖ key)>`
 * (https://c2sp.org/signed-note, "Signatures"; golang.org/x/mod/sumdb/note).
 *
 * The **wattledger key id** is the lowercase hex SHA-256 of the key's DER SubjectPublicKeyInfo
 * (64 hex digits, not truncated). It equals the RFC 6962 §3.2 / Rekor v1 LogID of the same key,
 * and anyone can recompute it with `openssl pkey -pubin -outform DER | sha256sum`. It is what
 * DSSE `keyid` carries; DSSE treats that field as an unauthenticated hint, and so do we.
 */

/** Raw Ed25519 public key length (RFC 8032 §5.1.5). */
export const ED25519_PUBLIC_KEY_BYTES = 32;
/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4): SEQUENCE, OID 1.3.101.112, BIT STRING. */
export const ED25519_SPKI_PREFIX: Uint8Array = bytesFromHex('302a300506032b6570032100');
/** C2SP signed-note signature type byte of Ed25519. */
export const SIGNED_NOTE_TYPE_ED25519 = 0x01;

const PEM_BEGIN = '-----BEGIN PUBLIC KEY-----';
const PEM_END = '-----END PUBLIC KEY-----';
// Go's isValidName: non-empty, no Unicode space (unicode.IsSpace, which adds U+0085 to JS \s),
// no '+'. Control characters are refused too: they cannot appear in a signed note at all.
const INVALID_NAME_CHAR = /[\s\u0085\u0000-\u001f+]/;
const KEY_HASH_HEX = /^[0-9a-f]{8}$/;
const RAW_KEY_HEX = /^[0-9a-f]{64}$/;

function keyInvalid(message: string, details: Record<string, string | number> = {}): AttestError {
  return new AttestError('ATTEST_KEY_INVALID', message, { details });
}

/** Throws `ATTEST_KEY_INVALID` unless `publicKey` is 32 bytes. */
export function assertEd25519PublicKey(publicKey: Uint8Array): void {
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw keyInvalid(`an Ed25519 public key is 32 bytes, got ${publicKey.length}`, {
      sizeBytes: publicKey.length,
    });
  }
}

/** DER SubjectPublicKeyInfo (44 bytes) of a raw Ed25519 public key. */
export function spkiDerFromEd25519PublicKey(publicKey: Uint8Array): Uint8Array {
  assertEd25519PublicKey(publicKey);
  return concatBytes(ED25519_SPKI_PREFIX, publicKey);
}

/** Raw public key from an Ed25519 DER SPKI; anything but the fixed 12-byte prefix + 32 bytes is refused. */
export function ed25519PublicKeyFromSpkiDer(der: Uint8Array): Uint8Array {
  const prefixLength = ED25519_SPKI_PREFIX.length;
  const prefixOk = ED25519_SPKI_PREFIX.every((b, i) => der[i] === b);
  if (der.length !== prefixLength + ED25519_PUBLIC_KEY_BYTES || !prefixOk) {
    throw keyInvalid('not an Ed25519 SubjectPublicKeyInfo (RFC 8410)', { sizeBytes: der.length });
  }
  return der.slice(prefixLength);
}

/** PEM "PUBLIC KEY" text of a raw Ed25519 public key, as `openssl pkey -pubout` writes it. */
export function pemFromEd25519PublicKey(publicKey: Uint8Array): string {
  return `${PEM_BEGIN}\n${base64FromBytes(spkiDerFromEd25519PublicKey(publicKey))}\n${PEM_END}\n`;
}

/** Raw public key from PEM "PUBLIC KEY" text (LF or CRLF line ends). Throws `ATTEST_KEY_INVALID`. */
export function ed25519PublicKeyFromPem(pem: string): Uint8Array {
  const lines = pem.trim().split(/\r?\n/);
  if (lines.length < 3 || lines[0] !== PEM_BEGIN || lines[lines.length - 1] !== PEM_END) {
    throw keyInvalid('not a PEM "PUBLIC KEY" block');
  }
  let der: Uint8Array;
  try {
    der = bytesFromBase64(lines.slice(1, -1).join(''));
  } catch (cause) {
    throw new AttestError('ATTEST_KEY_INVALID', 'PEM body is not valid base64', { cause });
  }
  return ed25519PublicKeyFromSpkiDer(der);
}

/** The wattledger key id: lowercase hex SHA-256 of the DER SPKI (see module comment). */
export function keyIdFromPublicKey(publicKey: Uint8Array): string {
  return hexFromBytes(sha256(spkiDerFromEd25519PublicKey(publicKey)));
}

/** True when `name` is a valid C2SP signed-note key name (non-empty, no spaces, no '+'). */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !INVALID_NAME_CHAR.test(name);
}

/**
 * C2SP signed-note key ID of an Ed25519 key: the first 4 bytes, big-endian, of
 * SHA-256(name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key). Returned as an unsigned 32-bit number.
 */
export function signedNoteKeyHash(name: string, publicKey: Uint8Array): number {
  if (!isValidKeyName(name)) throw keyInvalid('invalid signed-note key name', { name });
  assertEd25519PublicKey(publicKey);
  const digest = sha256(
    concatBytes(utf8FromString(name), Uint8Array.of(0x0a, SIGNED_NOTE_TYPE_ED25519), publicKey),
  );
  return new DataView(digest.buffer, digest.byteOffset, 4).getUint32(0);
}

/** Eight lowercase hex digits of a key hash, zero-padded as Go's `%08x`. */
export function keyHashHex(keyHash: number): string {
  return keyHash.toString(16).padStart(8, '0');
}

/** A trusted signed-note key: name, C2SP key hash and raw Ed25519 public key. */
export interface NoteVerifierKey {
  readonly name: string;
  readonly keyHash: number;
  readonly publicKey: Uint8Array;
}

/** C2SP verifier key string `<name>+<hex8>+<base64(0x01 ‖ key)>` of an Ed25519 key. */
export function formatVerifierKey(name: string, publicKey: Uint8Array): string {
  const hash = signedNoteKeyHash(name, publicKey);
  return `${name}+${keyHashHex(hash)}+${base64FromBytes(concatBytes(Uint8Array.of(SIGNED_NOTE_TYPE_ED25519), publicKey))}`;
}

/**
 * Parses a C2SP verifier key strictly, as Go's `note.NewVerifier` does. Splits on the first two
 * '+' only: the base64 part may itself contain '+'. Requires 8 lowercase hex digits, type byte
 * 0x01, a 32-byte key, and a stated key hash equal to the computed one. Throws `ATTEST_KEY_INVALID`.
 */
export function parseVerifierKey(vkey: string): NoteVerifierKey {
  const first = vkey.indexOf('+');
  const second = first < 0 ? -1 : vkey.indexOf('+', first + 1);
  if (second < 0) throw keyInvalid('a verifier key is <name>+<hex8>+<base64>');
  const name = vkey.slice(0, first);
  const hashHex = vkey.slice(first + 1, second);
  if (!isValidKeyName(name) || !KEY_HASH_HEX.test(hashHex))
    throw keyInvalid('malformed verifier key name or hash');
  let typedKey: Uint8Array;
  try {
    typedKey = bytesFromBase64(vkey.slice(second + 1));
  } catch (cause) {
    throw new AttestError('ATTEST_KEY_INVALID', 'verifier key material is not valid base64', { cause });
  }
  if (typedKey[0] !== SIGNED_NOTE_TYPE_ED25519 || typedKey.length !== 1 + ED25519_PUBLIC_KEY_BYTES) {
    throw keyInvalid('verifier key is not an Ed25519 (type 0x01) key', { sizeBytes: typedKey.length });
  }
  const publicKey = typedKey.slice(1);
  const keyHash = signedNoteKeyHash(name, publicKey);
  if (keyHashHex(keyHash) !== hashHex) {
    throw keyInvalid('verifier key hash does not match its name and key', {
      stated: hashHex,
      computed: keyHashHex(keyHash),
    });
  }
  return { name, keyHash, publicKey };
}

/** A public key recognised by {@link parsePublicKey}, with the ids a verifier looks it up by. */
export interface ParsedPublicKey {
  readonly publicKey: Uint8Array;
  /** The wattledger key id (hex SHA-256 of the SPKI). */
  readonly keyId: string;
  /** Present when the input was a C2SP verifier key. */
  readonly note?: NoteVerifierKey;
}

/**
 * Parses an Ed25519 public key given in any supported form: PEM SPKI, C2SP verifier key, raw
 * base64 (44 characters) or raw lowercase hex (64 digits). Surrounding whitespace is ignored.
 * Throws `ATTEST_KEY_INVALID`.
 */
export function parsePublicKey(text: string): ParsedPublicKey {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) return withKeyId(ed25519PublicKeyFromPem(trimmed));
  if (RAW_KEY_HEX.test(trimmed)) return withKeyId(bytesFromHex(trimmed));
  // A vkey is at least name + 1 + 8 + 1 + 44 characters, so 44 characters can only be raw base64.
  if (trimmed.length === 44) {
    try {
      return withKeyId(bytesFromBase64(trimmed));
    } catch (cause) {
      throw new AttestError('ATTEST_KEY_INVALID', 'raw public key is not valid base64', { cause });
    }
  }
  const note = parseVerifierKey(trimmed);
  return { publicKey: note.publicKey, keyId: keyIdFromPublicKey(note.publicKey), note };
}

function withKeyId(publicKey: Uint8Array): ParsedPublicKey {
  return { publicKey, keyId: keyIdFromPublicKey(publicKey) };
}
