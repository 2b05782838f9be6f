import { base64FromBytes, bytesFromBase64, concatBytes, stringFromUtf8, utf8FromString } from './bytes.js';
import { type Ed25519Verify, ed25519Verify, type Signer } from './ed25519.js';
import { AttestError } from './errors.js';
import { isValidKeyName, keyHashHex, type NoteVerifierKey, signedNoteKeyHash } from './key-id.js';

/**
 * C2SP signed notes (https://c2sp.org/signed-note, v1.0.0; golang.org/x/mod/sumdb/note):
 *
 *     <text, ending in \n>
 *     \n
 *     — <key name> <base64(4-byte key hash ‖ Ed25519 signature)>\n   (one or more)
 *
 * The signature covers the text bytes including their final newline, not the blank line.
 * Parsing is strict: valid UTF-8, no control characters but \n, the text split from the
 * signatures at the LAST blank line, every signature line well-formed. Signatures by unknown
 * (name, key hash) pairs are ignored, as the spec requires; a known key's bad signature rejects
 * the whole note (the spec's SHOULD); at least one known key must verify (its MUST).
 */

/** Default largest note accepted. Checkpoints are a few hundred bytes. */
export const NOTE_MAX_BYTES = 64 * 1024;
/** Most signature lines accepted: Go's limit; the spec requires at least 16. */
export const NOTE_MAX_SIGNATURES = 100;

const SIGNATURE_PREFIX = '\u2014 '; // em dash, space

/** A key that signs notes: its key name plus an Ed25519 {@link Signer}. */
export interface NoteSigner {
  readonly name: string;
  readonly signer: Signer;
}

/** One signature line of a note, as parsed (not yet verified). */
export interface NoteSignatureLine {
  readonly name: string;
  readonly keyHash: number;
  readonly signature: Uint8Array;
}

/** A note split into its text and signature lines. */
export interface ParsedNote {
  readonly text: string;
  readonly textBytes: Uint8Array;
  readonly signatures: readonly NoteSignatureLine[];
}

/** A note whose signatures verified: the text and who signed it. */
export interface OpenedNote {
  readonly text: string;
  readonly textBytes: Uint8Array;
  /** Trusted keys whose signature verified, in note order, each once. */
  readonly verified: readonly { readonly name: string; readonly keyHash: number }[];
  /** Signatures by keys not in the trusted set: ignored, listed for diagnostics. */
  readonly unverified: readonly { readonly name: string; readonly keyHash: number }[];
}

function malformed(message: string, cause?: unknown): AttestError {
  return new AttestError('ATTEST_NOTE_MALFORMED', message, cause === undefined ? {} : { cause });
}

function hasForbiddenControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) return true;
  }
  return false;
}

/** Throws `ATTEST_NOTE_MALFORMED` unless `text` can be the text of a note. */
export function assertNoteText(text: string): void {
  if (!text.endsWith('\n')) throw malformed('note text must end with a newline');
  if (hasForbiddenControl(text)) throw malformed('note text has a control character other than newline');
}

/**
 * Signs `text` with every signer; returns the complete note. Throws `ATTEST_NOTE_MALFORMED` for
 * text that is not note text, `ATTEST_KEY_INVALID` for a bad key name, `ATTEST_KEY_AMBIGUOUS`
 * when two signers share a (name, key hash).
 */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  assertNoteText(text);
  if (signers.length === 0) throw malformed('a signed note needs at least one signer');
  const textBytes = utf8FromString(text);
  const seen = new Set<string>();
  let lines = '';
  for (const { name, signer } of signers) {
    const keyHash = signedNoteKeyHash(name, signer.publicKey);
    const id = `${name}+${keyHashHex(keyHash)}`;
    if (seen.has(id)) throw new AttestError('ATTEST_KEY_AMBIGUOUS', `two signers are ${id}`);
    seen.add(id);
    const hashBytes = new Uint8Array(4);
    new DataView(hashBytes.buffer).setUint32(0, keyHash);
    lines += `${SIGNATURE_PREFIX}${name} ${base64FromBytes(concatBytes(hashBytes, signer.sign(textBytes)))}\n`;
  }
  return `${text}\n${lines}`;
}

function parseSignatureLine(line: string): NoteSignatureLine {
  if (!line.startsWith(SIGNATURE_PREFIX))
    throw malformed('signature line must start with an em dash and a space');
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(' ');
  const name = rest.slice(0, space < 0 ? rest.length : space);
  if (space < 0 || !isValidKeyName(name)) throw malformed('signature line has no valid key name');
  let raw: Uint8Array;
  try {
    raw = bytesFromBase64(rest.slice(space + 1));
  } catch (cause) {
    throw malformed('signature is not valid standard base64', cause);
  }
  if (raw.length < 5) throw malformed('signature is shorter than a key hash and one byte');
  const keyHash = new DataView(raw.buffer, raw.byteOffset, 4).getUint32(0);
  return { name, keyHash, signature: raw.slice(4) };
}

/**
 * Splits a note (attacker-controlled bytes) into text and signature lines without verifying.
 * Throws `ATTEST_NOTE_MALFORMED` for anything outside the format or over `maxSizeBytes`.
 */
export function parseNote(bytes: Uint8Array, maxSizeBytes = NOTE_MAX_BYTES): ParsedNote {
  if (bytes.length > maxSizeBytes) throw malformed(`note is larger than ${maxSizeBytes} bytes`);
  let note: string;
  try {
    note = stringFromUtf8(bytes);
  } catch (cause) {
    throw malformed('note is not valid UTF-8', cause);
  }
  if (hasForbiddenControl(note)) throw malformed('note has a control character other than newline');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw malformed('note has no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n')) throw malformed('signature block must end with a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > NOTE_MAX_SIGNATURES)
    throw malformed(`note has more than ${NOTE_MAX_SIGNATURES} signatures`);
  // Re-encoding valid UTF-8 gives back the same bytes, so these are exactly the signed bytes.
  return { text, textBytes: utf8FromString(text), signatures: lines.map(parseSignatureLine) };
}

function trustedIndex(trusted: readonly NoteVerifierKey[]): Map<string, NoteVerifierKey> {
  const index = new Map<string, NoteVerifierKey>();
  for (const key of trusted) {
    const id = `${key.name}+${keyHashHex(key.keyHash)}`;
    const prior = index.get(id);
    if (prior !== undefined && !prior.publicKey.every((b, i) => key.publicKey[i] === b)) {
      throw new AttestError('ATTEST_KEY_AMBIGUOUS', `two trusted keys are ${id}`);
    }
    index.set(id, key);
  }
  return index;
}

/**
 * Parses and verifies a signed note against trusted keys (parse them with `parseVerifierKey`).
 * Throws `ATTEST_NOTE_MALFORMED`, `ATTEST_SIGNATURE_INVALID` (a trusted key's signature failed),
 * `ATTEST_NOTE_UNVERIFIED` (no trusted key signed) or `ATTEST_KEY_AMBIGUOUS`.
 */
export function openNote(
  bytes: Uint8Array,
  trusted: readonly NoteVerifierKey[],
  options: { readonly maxSizeBytes?: number; readonly verify?: Ed25519Verify } = {},
): OpenedNote {
  const { text, textBytes, signatures } = parseNote(bytes, options.maxSizeBytes);
  const verify = options.verify ?? ed25519Verify;
  const index = trustedIndex(trusted);
  const verified = new Map<string, { name: string; keyHash: number }>();
  const unverified = new Map<string, { name: string; keyHash: number }>();
  for (const { name, keyHash, signature } of signatures) {
    const id = `${name}+${keyHashHex(keyHash)}`;
    const key = index.get(id);
    if (key === undefined) {
      unverified.set(id, { name, keyHash });
      continue;
    }
    // Every signature of a known key is checked, duplicates included.
    if (!verify(key.publicKey, textBytes, signature)) {
      throw new AttestError('ATTEST_SIGNATURE_INVALID', `invalid signature for key ${id}`, {
        details: { key: id },
      });
    }
    verified.set(id, { name, keyHash });
  }
  if (verified.size === 0) {
    throw new AttestError('ATTEST_NOTE_UNVERIFIED', 'no trusted key signed the note', {
      details: { signatures: signatures.length },
    });
  }
  return { text, textBytes, verified: [...verified.values()], unverified: [...unverified.values()] };
}
