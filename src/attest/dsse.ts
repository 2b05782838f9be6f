import { base64FromBytes, bytesFromBase64, concatBytes, utf8FromString } from './bytes.js';
import { ED25519_SIGNATURE_BYTES, type Ed25519Verify, ed25519Verify, type Signer } from './ed25519.js';
import { AttestError } from './errors.js';
import { keyIdFromPublicKey } from './key-id.js';

/**
 * DSSE v1 envelopes (https://github.com/secure-systems-lab/dsse, protocol.md and envelope.md,
 * spec 1.0.2) with Ed25519 signatures over PAE(payloadType, payload).
 *
 * Verification works on the raw payload bytes: decode base64, check signatures over the PAE, and
 * only then hand the bytes back for parsing ("verify before parse"). The `keyid` field is an
 * unauthenticated hint used only to pick candidate keys, never to decide trust.
 */

/** Default maximum decoded payload size. A batch of a few thousand records is ~1–2 MiB. */
export const DSSE_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
/** Most signatures an envelope may carry before it is rejected unread (bounds verification work). */
export const DSSE_MAX_SIGNATURES = 16;

/** One DSSE signature: key id hint and standard base64 of the 64-byte Ed25519 signature. */
export interface DsseSignature {
  readonly keyid: string;
  readonly sig: string;
}

/** A DSSE JSON envelope (envelope.md). `payload` is standard base64 of the payload bytes. */
export interface DsseEnvelope {
  readonly payloadType: string;
  readonly payload: string;
  readonly signatures: readonly DsseSignature[];
}

/** The payload of an envelope that verified, with the key ids of the trusted keys that signed it. */
export interface VerifiedDsse {
  readonly payloadType: string;
  readonly payload: Uint8Array;
  readonly keyIds: readonly string[];
}

/** Options of {@link verifyDsse}. */
export interface DsseVerifyOptions {
  /** Reject unless the (signed) payloadType equals this. */
  readonly expectedPayloadType?: string;
  /** Distinct trusted keys that must have signed; default 1. */
  readonly threshold?: number;
  /** Largest decoded payload accepted; default {@link DSSE_MAX_PAYLOAD_BYTES}. */
  readonly maxPayloadBytes?: number;
  /** Signature check; default tweetnacl. Node callers may pass `createNodeEd25519Verify()`. */
  readonly verify?: Ed25519Verify;
}

/**
 * DSSE pre-authentication encoding (protocol.md):
 * `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, where LEN is the ASCII decimal byte
 * length without leading zeros. Lengths are of the UTF-8 bytes, not of UTF-16 characters.
 */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Uint8Array {
  const typeBytes = utf8FromString(payloadType);
  return concatBytes(
    utf8FromString(`DSSEv1 ${typeBytes.length} `),
    typeBytes,
    utf8FromString(` ${payload.length} `),
    payload,
  );
}

/** Signs `payload` with every signer and returns the envelope. */
export function signDsse(payloadType: string, payload: Uint8Array, signers: readonly Signer[]): DsseEnvelope {
  if (signers.length === 0) throw new AttestError('ATTEST_DSSE_MALFORMED', 'a DSSE envelope needs a signer');
  const pae = preAuthEncoding(payloadType, payload);
  const signatures = signers.map((signer) => {
    const sig = signer.sign(pae);
    if (sig.length !== ED25519_SIGNATURE_BYTES) {
      throw new AttestError(
        'ATTEST_SIGNATURE_INVALID',
        `signer ${signer.keyId} returned ${sig.length} bytes`,
      );
    }
    return { keyid: signer.keyId, sig: base64FromBytes(sig) };
  });
  return { payloadType, payload: base64FromBytes(payload), signatures };
}

function malformed(message: string, cause?: unknown): AttestError {
  return new AttestError('ATTEST_DSSE_MALFORMED', message, cause === undefined ? {} : { cause });
}

/** Checks the shape of an attacker-controlled envelope; unknown fields are ignored (envelope.md). */
function assertEnvelopeShape(value: unknown): asserts value is DsseEnvelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw malformed('envelope is not an object');
  const e = value as Record<string, unknown>;
  if (typeof e.payloadType !== 'string') throw malformed('payloadType must be a string');
  if (typeof e.payload !== 'string') throw malformed('payload must be a base64 string');
  const sigs = e.signatures;
  if (!Array.isArray(sigs) || sigs.length === 0) throw malformed('signatures must be a non-empty array');
  if (sigs.length > DSSE_MAX_SIGNATURES) throw malformed(`more than ${DSSE_MAX_SIGNATURES} signatures`);
  for (const s of sigs as unknown[]) {
    const sig = s as Record<string, unknown> | null;
    const keyidOk = sig?.keyid === undefined || typeof sig.keyid === 'string';
    if (typeof sig !== 'object' || sig === null || typeof sig.sig !== 'string' || !keyidOk) {
      throw malformed('each signature needs a string "sig" and an optional string "keyid"');
    }
  }
}

function decodeField(text: string, what: string): Uint8Array {
  try {
    // DSSE: "Verifiers MUST accept either" standard or URL-safe base64.
    return bytesFromBase64(text, { allowUrlSafe: true });
  } catch (cause) {
    throw malformed(`${what} is not valid base64`, cause);
  }
}

function decodePayload(e: DsseEnvelope, maxPayloadBytes: number): Uint8Array {
  // Refuse oversized input before decoding it (4 base64 characters per 3 bytes).
  if (e.payload.length > Math.ceil(maxPayloadBytes / 3) * 4)
    throw malformed(`payload exceeds ${maxPayloadBytes} bytes`);
  const payload = decodeField(e.payload, 'payload');
  if (payload.length > maxPayloadBytes) throw malformed(`payload exceeds ${maxPayloadBytes} bytes`);
  return payload;
}

/**
 * Which trusted keys signed `pae`. The `keyid` hint only narrows the candidates (DSSE: it "MUST
 * NOT be used for security decisions"); an empty or absent hint tries every trusted key, so for
 * such a signature a failure cannot be told apart from an unknown signer.
 */
function checkSignatures(
  envelope: DsseEnvelope,
  pae: Uint8Array,
  trustedPublicKeys: readonly Uint8Array[],
  verify: Ed25519Verify,
): { verified: Set<string>; trustedSignatureFailed: boolean } {
  const trusted = new Map(trustedPublicKeys.map((key) => [keyIdFromPublicKey(key), key] as const));
  const verified = new Set<string>();
  let trustedSignatureFailed = false;
  for (const { keyid, sig } of envelope.signatures) {
    const signature = decodeField(sig, 'signature');
    const candidates = keyid ? (trusted.has(keyid) ? [keyid] : []) : [...trusted.keys()];
    for (const keyId of candidates) {
      if (verify(trusted.get(keyId)!, pae, signature)) verified.add(keyId);
      else if (keyid) trustedSignatureFailed = true;
    }
  }
  return { verified, trustedSignatureFailed };
}

/**
 * Verifies a DSSE envelope (attacker-controlled, already JSON-parsed) against trusted Ed25519
 * public keys and returns the payload BYTES; parse them only after this returns. A signature
 * counts when it verifies under a trusted key whose key id matches its `keyid` hint (an empty or
 * absent hint tries every trusted key). Throws `ATTEST_DSSE_MALFORMED` (shape, base64, size),
 * `ATTEST_DSSE_PAYLOAD_TYPE_MISMATCH`, `ATTEST_SIGNATURE_INVALID` (a trusted key's signature
 * failed and the threshold is not met) or `ATTEST_DSSE_UNTRUSTED` (no signature names a trusted key).
 */
export function verifyDsse(
  envelope: unknown,
  trustedPublicKeys: readonly Uint8Array[],
  options: DsseVerifyOptions = {},
): VerifiedDsse {
  assertEnvelopeShape(envelope);
  const { threshold = 1, maxPayloadBytes = DSSE_MAX_PAYLOAD_BYTES, verify = ed25519Verify } = options;
  if (!Number.isSafeInteger(threshold) || threshold < 1) {
    throw new RangeError('threshold must be an integer ≥ 1');
  }
  const payload = decodePayload(envelope, maxPayloadBytes);
  let pae: Uint8Array;
  try {
    pae = preAuthEncoding(envelope.payloadType, payload);
  } catch (cause) {
    throw malformed('payloadType is not well-formed Unicode', cause);
  }
  const { verified, trustedSignatureFailed } = checkSignatures(envelope, pae, trustedPublicKeys, verify);
  if (verified.size < threshold) {
    const code = trustedSignatureFailed ? 'ATTEST_SIGNATURE_INVALID' : 'ATTEST_DSSE_UNTRUSTED';
    throw new AttestError(code, `${verified.size} of ${threshold} required trusted signatures verified`, {
      details: { verified: verified.size, threshold },
    });
  }
  // payloadType is covered by the PAE, so this comparison is on authenticated data.
  const { expectedPayloadType } = options;
  if (expectedPayloadType !== undefined && envelope.payloadType !== expectedPayloadType) {
    throw new AttestError('ATTEST_DSSE_PAYLOAD_TYPE_MISMATCH', `payloadType is not ${expectedPayloadType}`, {
      details: { payloadType: envelope.payloadType },
    });
  }
  return { payloadType: envelope.payloadType, payload, keyIds: [...verified] };
}
