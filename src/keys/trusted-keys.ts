import { AttestError } from '../attest/errors.js';
import { type NoteVerifierKey, parsePublicKey } from '../attest/key-id.js';
import { BaseError, type ConfigProblem } from '../errors.js';

/**
 * The trusted-keys document a verifier is given, and the key error type shared with the Node-only
 * key file loader. PURE: no `node:` imports and no file system, because the verifier library that
 * uses it must run in a browser (the caller reads the file; this module only parses text).
 *
 *     { "keys": [ { "publicKey": "<raw base64 | hex | PEM | C2SP vkey>",
 *                   "validFrom": "2026-01-01T00:00:00Z", "validUntil": "2027-01-01T00:00:00Z",
 *                   "note": "rack 7, rotated 2026-01" } ] }
 *
 * Validity is half-open, [validFrom, validUntil), as Sigstore's `valid_for`; either bound may be
 * omitted. Unknown members are errors, not ignored: a misspelt `validUntill` silently widening a
 * key's window is exactly the mistake a trust file must not allow.
 */

/** Stable codes of key handling failures (key files, credentials, trusted-keys documents). */
export type KeyErrorCode =
  | 'KEY_EXISTS'
  | 'KEY_NOT_FOUND'
  | 'KEY_INSECURE_PERMISSIONS'
  | 'KEY_INVALID'
  | 'KEY_IO';

/**
 * A key could not be created, found, trusted or parsed. `problems` lists every invalid field of a
 * trusted-keys document at once. Messages name files and fields, never key material.
 */
export class KeyError extends BaseError<KeyErrorCode> {
  readonly hint: string | undefined;
  readonly path: string | undefined;
  readonly problems: readonly ConfigProblem[];
  constructor(
    code: KeyErrorCode,
    message: string,
    options?: { cause?: unknown; hint?: string; path?: string; problems?: readonly ConfigProblem[] },
  ) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options?.hint;
    this.path = options?.path;
    this.problems = options?.problems ?? [];
  }
}

/** A public key a verifier trusts, optionally only within [validFrom, validUntil). */
export interface TrustedKey {
  /** The wattledger key id (lowercase hex SHA-256 of the SPKI DER). */
  readonly keyId: string;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  readonly validFromUnixNanos?: bigint;
  readonly validUntilUnixNanos?: bigint;
  /** `trusted`: given by the user; `announced`: learnt from a verified batch's key announcement. */
  readonly source: 'trusted' | 'announced';
  /** The document's free-text `note` for this key. */
  readonly note?: string;
  /** Present when the key was given as a C2SP verifier key: its name verifies checkpoints. */
  readonly verifierKey?: NoteVerifierKey;
}

/** Largest trusted-keys document accepted; a real one lists a handful of keys. */
export const TRUSTED_KEYS_MAX_BYTES = 1024 * 1024;
/** Most keys one document may list. */
export const TRUSTED_KEYS_MAX_KEYS = 1000;

const KEY_FIELDS = ['publicKey', 'validFrom', 'validUntil', 'note'];
const KEY_FORMS = 'an Ed25519 public key: raw base64, hex, PEM "PUBLIC KEY" or C2SP verifier key';
// RFC 3339 §5.6 date-time; a time offset is required (a bare local time is ambiguous).
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
const NANOS_PER_SECOND = 1_000_000_000n;

/**
 * Parses an RFC 3339 date-time to Unix nanoseconds; null when it is not one. Range-checked
 * (month, day of that month, hour, minute, second; leap seconds are refused because no clock we
 * compare against represents them). Computed on integers, not `Date`, so nanoseconds survive.
 */
export function unixNanosFromRfc3339(text: string): bigint | null {
  const m = RFC3339.exec(text);
  if (m === null) return null;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = m.slice(1, 7).map(Number);
  const offsetMinutes =
    m[8] === undefined ? 0 : (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]));
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59 || Math.abs(offsetMinutes) >= 24 * 60) return null;
  const seconds =
    daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60;
  const fraction = BigInt((m[7] ?? '').padEnd(9, '0'));
  return BigInt(seconds) * NANOS_PER_SECOND + fraction;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/**
 * Describes a rejected key value without echoing it: a pasted private key must never reach an
 * error message or a log, so only its shape is reported.
 */
function describeKeyText(value: string): string {
  const pem = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(value);
  if (pem !== null) return `a PEM "${pem[1]}" block`;
  return `${value.trim().length} characters that are not one of those forms`;
}

/** The key in `text`, or why it is not one (a reason that never quotes the text). */
function keyOrReason(text: string): TrustedKey | string {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) return 'a private key, not a public key';
  try {
    const parsed = parsePublicKey(text);
    const key: TrustedKey = { keyId: parsed.keyId, publicKey: parsed.publicKey, source: 'trusted' };
    return parsed.note === undefined ? key : { ...key, verifierKey: parsed.note };
  } catch (cause) {
    const reason = cause instanceof AttestError ? cause.message : 'unparseable';
    return `${describeKeyText(text)} (${reason})`;
  }
}

/**
 * Parses one public key given in any supported form, as a bare `--key` argument: no validity
 * window, source `trusted`. Throws `KEY_INVALID` (a private key is called out as such, unechoed).
 */
export function trustedKeyFromText(text: string): TrustedKey {
  const key = keyOrReason(text);
  if (typeof key !== 'string') return key;
  throw new KeyError('KEY_INVALID', `expected ${KEY_FORMS}; found ${key}`, {
    hint: 'pass a public key as printed by `wattledger keygen` (or its .pub file); never share the private key',
  });
}

type Problems = ConfigProblem[];

function add(problems: Problems, path: string, expected: string, found: string): void {
  problems.push({ path, expected, found });
}

function foundOf(value: unknown): string {
  if (value === undefined) return 'no value';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string')
    return value.length > 40 ? `${value.length} characters` : JSON.stringify(value);
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

function rejectUnknownMembers(
  record: object,
  allowed: readonly string[],
  path: string,
  problems: Problems,
): void {
  for (const field of Object.keys(record)) {
    if (!allowed.includes(field))
      add(problems, `${path}.${field}`, `only ${allowed.join(', ')}`, 'an unknown member');
  }
}

function parseTime(value: unknown, path: string, problems: Problems): bigint | undefined {
  if (value === undefined) return undefined;
  const nanos = typeof value === 'string' ? unixNanosFromRfc3339(value) : null;
  if (nanos === null) add(problems, path, 'an RFC 3339 date-time, e.g. 2026-01-01T00:00:00Z', foundOf(value));
  return nanos ?? undefined;
}

function parseKeyField(value: unknown, path: string, problems: Problems): TrustedKey | null {
  const key = typeof value === 'string' ? keyOrReason(value) : foundOf(value);
  if (typeof key !== 'string') return key;
  add(problems, path, KEY_FORMS, key);
  return null;
}

function parseKeyEntry(entry: unknown, path: string, problems: Problems): TrustedKey | null {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    add(problems, path, 'an object with publicKey and optional validFrom, validUntil, note', foundOf(entry));
    return null;
  }
  const record = entry as Record<string, unknown>;
  rejectUnknownMembers(record, KEY_FIELDS, path, problems);
  const key = parseKeyField(record.publicKey, `${path}.publicKey`, problems);
  const from = parseTime(record.validFrom, `${path}.validFrom`, problems);
  const until = parseTime(record.validUntil, `${path}.validUntil`, problems);
  if (from !== undefined && until !== undefined && until <= from)
    add(
      problems,
      `${path}.validUntil`,
      'a time after validFrom (the window is [validFrom, validUntil))',
      foundOf(record.validUntil),
    );
  const note = record.note;
  if (note !== undefined && typeof note !== 'string')
    add(problems, `${path}.note`, 'a string', foundOf(note));
  if (key === null) return null;
  return {
    ...key,
    ...(from === undefined ? {} : { validFromUnixNanos: from }),
    ...(until === undefined ? {} : { validUntilUnixNanos: until }),
    ...(typeof note === 'string' ? { note } : {}),
  };
}

function parseDocument(text: string, problems: Problems): unknown[] {
  if (text.length > TRUSTED_KEYS_MAX_BYTES) {
    add(problems, '$', `at most ${TRUSTED_KEYS_MAX_BYTES} bytes`, `${text.length} characters`);
    return [];
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : 'unparseable';
    add(problems, '$', 'a JSON document', `invalid JSON (${reason})`);
    return [];
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    add(problems, '$', 'an object { "keys": [...] }', foundOf(doc));
    return [];
  }
  rejectUnknownMembers(doc, ['keys'], '$', problems);
  const keys = (doc as Record<string, unknown>).keys;
  if (Array.isArray(keys) && keys.length > 0 && keys.length <= TRUSTED_KEYS_MAX_KEYS) return keys;
  add(problems, '$.keys', `an array of 1 to ${TRUSTED_KEYS_MAX_KEYS} keys`, foundOf(keys));
  return [];
}

/**
 * Parses a trusted-keys document strictly. Every problem (JSON path, what was expected, what was
 * found) is collected and thrown together as one `KEY_INVALID` whose `problems` lists them all;
 * a key id listed twice is a problem too. Keys come back in document order, source `trusted`.
 */
export function parseTrustedKeys(text: string): TrustedKey[] {
  const problems: Problems = [];
  const keys: TrustedKey[] = [];
  const firstIndex = new Map<string, number>();
  parseDocument(text, problems).forEach((entry, index) => {
    const key = parseKeyEntry(entry, `$.keys[${index}]`, problems);
    if (key === null) return;
    const prior = firstIndex.get(key.keyId);
    if (prior === undefined) {
      firstIndex.set(key.keyId, index);
      keys.push(key);
    } else {
      add(
        problems,
        `$.keys[${index}].publicKey`,
        `a key not listed before (same key as $.keys[${prior}])`,
        `key id ${key.keyId}`,
      );
    }
  });
  if (problems.length === 0) return keys;
  const lines = problems.map((p) => `  ${p.path}: expected ${p.expected}, found ${p.found}`);
  throw new KeyError('KEY_INVALID', `invalid trusted-keys document:\n${lines.join('\n')}`, {
    problems,
    hint: 'the format is { "keys": [ { "publicKey": "...", "validFrom"?: "...", "validUntil"?: "...", "note"?: "..." } ] }',
  });
}
