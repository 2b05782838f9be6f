import { BATCH_PAYLOAD_TYPE, BATCH_PREDICATE_TYPE, type BatchStatement } from '../attest/batch-format.js';
import { parseBatchStatement } from '../attest/batch-schema.js';
import { hexFromBytes, stringFromUtf8, utf8FromString } from '../attest/bytes.js';
import { canonicalString, parseCanonicalJson } from '../attest/canonical.js';
import { verifyDsse } from '../attest/dsse.js';
import type { Ed25519Verify } from '../attest/ed25519.js';
import { AttestError } from '../attest/errors.js';
import { leafHash } from '../attest/merkle.js';
import { sha256 } from '../attest/sha256.js';
import { devicesDigest } from './batch-checks.js';
import { parseCanonicalStatementFast } from './canonical-statement.js';
import { verificationErrorFromAttest } from './errors.js';
import { parseEnvelopeCandidate } from './fast-envelope.js';
import { type Finding, finding } from './findings.js';
import type { Keyring } from './keyring.js';

/** A batch whose envelope verified and whose statement is well formed. */
export interface OpenedBatch {
  readonly statement: BatchStatement;
  readonly sequence: bigint;
  /** SHA-256 (hex) of the payload bytes: what the next batch's `previousSha256` must be. */
  readonly payloadSha256: string;
  /** RFC 9162 leaf hash of the ledger line: this batch's leaf in the agent's log. */
  readonly leafHash: Uint8Array;
  /** Trusted keys whose signatures verified. */
  readonly keyIds: readonly string[];
  /** The payload as (canonical) text. */
  readonly payloadText: string;
  /** SHA-256 (hex) of the canonical JSON of `predicate.devices`: what the subject digest must be. */
  readonly devicesSha256: string;
}

/**
 * Opens one ledger line (one DSSE envelope as JSON, attacker-controlled): verifies the signature
 * over the payload bytes BEFORE parsing them, then requires canonical JSON and a well-formed
 * statement. Returns the batch, or the finding that stopped it.
 *
 * A line and payload of the usual shape take the fast path of `canonical-statement.ts` (one pass
 * each instead of JSON.parse, a canonical re-encoding and the zod schema); it only ever accepts
 * what the reference path below accepts, and anything else, every failure included, goes through
 * the reference path, so every finding is made exactly as there.
 */
export function openBatchLine(
  line: string,
  location: string,
  keyring: Keyring,
  verify?: Ed25519Verify,
): OpenResult {
  const candidate = parseEnvelopeCandidate(line);
  if (candidate === null) return openReference(line, location, keyring, verify);
  let verified: { payload: Uint8Array; keyIds: readonly string[] };
  try {
    verified = verifyEnvelope(candidate, keyring, verify);
  } catch (error) {
    if (!(error instanceof AttestError)) throw error;
    return openReference(line, location, keyring, verify);
  }
  const { payload, keyIds } = verified;
  let payloadText: string;
  try {
    payloadText = stringFromUtf8(payload);
  } catch {
    return openReference(line, location, keyring, verify);
  }
  const fast = parseCanonicalStatementFast(payloadText);
  if (fast === null) return openReference(line, location, keyring, verify, { envelope: candidate, verified });
  const { statement, devicesStart, devicesEnd } = fast;
  // One byte per character (ASCII): the devices' bytes are a span of the payload's, no re-encoding.
  const devicesBytes =
    payload.length === payloadText.length
      ? payload.subarray(devicesStart, devicesEnd)
      : utf8FromString(payloadText.slice(devicesStart, devicesEnd));
  return {
    ok: true,
    batch: {
      statement,
      sequence: BigInt(statement.predicate.sequence),
      payloadSha256: hexFromBytes(sha256(payload)),
      leafHash: lineLeafHash(line),
      keyIds,
      payloadText,
      devicesSha256: hexFromBytes(sha256(devicesBytes)),
    },
  };
}

const encoder = new TextEncoder();

/**
 * The line's RFC 9162 leaf hash, SHA-256(0x00 ‖ UTF-8 of the line), as `leafHash` computes it, with
 * the bytes written once into the hashed buffer. A fast-path line is ASCII (its payload decoded as
 * base64); should one not be, the general path encodes it.
 */
function lineLeafHash(line: string): Uint8Array {
  const input = new Uint8Array(1 + line.length);
  const { read, written } = encoder.encodeInto(line, input.subarray(1));
  if (read !== line.length || written !== line.length) return leafHash(utf8FromString(line));
  return sha256(input);
}

type OpenResult =
  | { readonly ok: true; readonly batch: OpenedBatch }
  | { readonly ok: false; readonly finding: Finding };

function verifyEnvelope(
  envelope: unknown,
  keyring: Keyring,
  verify: Ed25519Verify | undefined,
): { payload: Uint8Array; keyIds: readonly string[] } {
  return verifyDsse(envelope, keyring.publicKeys(), {
    expectedPayloadType: BATCH_PAYLOAD_TYPE,
    ...(verify ? { verify } : {}),
  });
}

/**
 * The reference path: each step of FORMAT.md §8 (2–4) on its own, with its own finding. `checked`:
 * the line's envelope (what JSON.parse gives) and its verified payload, when the fast path got
 * that far before handing over.
 */
function openReference(
  line: string,
  location: string,
  keyring: Keyring,
  verify: Ed25519Verify | undefined,
  checked?: { envelope: unknown; verified: { payload: Uint8Array; keyIds: readonly string[] } },
): OpenResult {
  const where = { sequence: null, location };
  let envelope: unknown;
  try {
    envelope = checked ? checked.envelope : JSON.parse(line);
  } catch {
    return {
      ok: false,
      finding: finding('VERIFY_MALFORMED', where, 'envelope-json', 'the line is not JSON'),
    };
  }
  let payload: Uint8Array;
  let keyIds: readonly string[];
  let statementValue: unknown;
  try {
    const verified = checked ? checked.verified : verifyEnvelope(envelope, keyring, verify);
    payload = verified.payload;
    keyIds = verified.keyIds;
    statementValue = parseCanonicalJson(payload);
  } catch (error) {
    if (!(error instanceof AttestError)) throw error;
    const mapped = verificationErrorFromAttest(error, { check: 'envelope' });
    return { ok: false, finding: finding(mapped.code, where, checkName(error), error.message) };
  }
  const predicateType = (statementValue as { predicateType?: unknown } | null)?.predicateType;
  if (predicateType !== BATCH_PREDICATE_TYPE) {
    return {
      ok: false,
      finding: finding(
        'VERIFY_WRONG_TYPE',
        where,
        'predicate-type',
        `predicateType is ${JSON.stringify(predicateType)}, not ${BATCH_PREDICATE_TYPE}`,
      ),
    };
  }
  // Receipts and the log's leaves are the line's bytes: the line must be the envelope's canonical form.
  if (canonicalString(envelope) !== line) {
    return {
      ok: false,
      finding: finding(
        'VERIFY_NONCANONICAL_PAYLOAD',
        where,
        'canonical-line',
        'the ledger line is not the RFC 8785 form of its envelope',
      ),
    };
  }
  const parsed = parseBatchStatement(statementValue);
  if (!parsed.ok) {
    const text = parsed.problems
      .slice(0, 5)
      .map((p) => `${p.path}: ${p.message}`)
      .join('; ');
    return {
      ok: false,
      finding: finding(
        'VERIFY_MALFORMED',
        where,
        'statement-schema',
        `statement is not batch format v1: ${text}`,
      ),
    };
  }
  const statement = parsed.statement;
  const payloadText = stringFromUtf8(payload);
  return {
    ok: true,
    batch: {
      statement,
      sequence: BigInt(statement.predicate.sequence),
      payloadSha256: hexFromBytes(sha256(payload)),
      leafHash: leafHash(utf8FromString(line)),
      keyIds,
      payloadText,
      devicesSha256: devicesDigest(statement.predicate.devices, payloadText),
    },
  };
}

function checkName(error: AttestError): string {
  if (error.code.startsWith('ATTEST_CANONICAL')) return 'canonical-payload';
  if (error.code === 'ATTEST_DSSE_PAYLOAD_TYPE_MISMATCH') return 'payload-type';
  if (error.code === 'ATTEST_DSSE_MALFORMED') return 'envelope-shape';
  return 'signature';
}
