import { describe, expect, it } from 'vitest';
import { base64FromBytes, bytesFromBase64 } from '../../../src/attest/bytes.js';
import { tweetnaclSigner } from '../../../src/attest/ed25519.js';
import { createNodeEd25519Verify } from '../../../src/attest/ed25519-node.js';
import { formatVerifierKey, type NoteVerifierKey, parseVerifierKey } from '../../../src/attest/key-id.js';
import { NOTE_MAX_SIGNATURES, openNote, parseNote, signNote } from '../../../src/attest/note.js';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
};

// c2sp.org/signed-note (v1.0.0 example key and note).
const C2SP_KEY = parseVerifierKey('example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k');
const C2SP_NOTE =
  'This is an example message.\n\n' +
  '— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';

// golang.org/x/mod sumdb/note/note_test.go (TestSign, TestOpen).
const PETER = parseVerifierKey('PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW');
const ENOCH = parseVerifierKey('EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop');
const PETER_SEED = bytesFromBase64('AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz').slice(1);
const TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG =
  '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG =
  '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';
const who = (key: NoteVerifierKey) => ({ name: key.name, keyHash: key.keyHash });

describe('openNote on published notes', () => {
  it('verifies the C2SP signed-note example byte for byte', () => {
    const opened = openNote(utf8(C2SP_NOTE), [C2SP_KEY]);
    expect(opened.text).toBe('This is an example message.\n');
    expect(opened.textBytes).toEqual(utf8('This is an example message.\n'));
    expect(opened.verified).toEqual([who(C2SP_KEY)]);
    expect(opened.unverified).toEqual([]);
  });

  it('verifies with the node:crypto fast path too', () => {
    expect(
      openNote(utf8(C2SP_NOTE), [C2SP_KEY], { verify: createNodeEd25519Verify() }).verified,
    ).toHaveLength(1);
  });

  it('verifies the trusted signature and lists the unknown one (Go TestOpen)', () => {
    const opened = openNote(utf8(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`), [PETER]);
    expect(opened.text).toBe(TEXT);
    expect(opened.verified).toEqual([who(PETER)]);
    expect(opened.unverified).toEqual([who(ENOCH)]);
    expect(openNote(utf8(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`), [PETER, ENOCH]).verified).toEqual([
      who(PETER),
      who(ENOCH),
    ]);
  });

  it('rejects a note that no trusted key signed', () => {
    expect(codeOf(() => openNote(utf8(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`), []))).toBe(
      'ATTEST_NOTE_UNVERIFIED',
    );
    expect(codeOf(() => openNote(utf8(`${TEXT}\n${ENOCH_SIG}`), [PETER]))).toBe('ATTEST_NOTE_UNVERIFIED');
  });

  it('ignores a signature that shares only the name of a trusted key', () => {
    const otherKey = `— PeterNeumann ${base64FromBytes(new Uint8Array(68))}\n`;
    const opened = openNote(utf8(`${TEXT}\n${otherKey}${PETER_SIG}`), [PETER]);
    expect(opened.verified).toEqual([who(PETER)]);
    expect(opened.unverified).toEqual([{ name: 'PeterNeumann', keyHash: 0 }]);
  });

  it('rejects an invalid signature by a trusted key (Go: "invalid signature for key")', () => {
    const bad = `${PETER_SIG.slice(0, 60)}ABCD${PETER_SIG.slice(60)}`;
    expect(codeOf(() => openNote(utf8(`${TEXT}\n${bad}`), [PETER]))).toBe('ATTEST_SIGNATURE_INVALID');
  });

  it('checks every signature of a trusted key, so a tampered duplicate rejects the note', () => {
    const bad = `${PETER_SIG.slice(0, 60)}ABCD${PETER_SIG.slice(60)}`;
    expect(codeOf(() => openNote(utf8(`${TEXT}\n${PETER_SIG}${bad}`), [PETER]))).toBe(
      'ATTEST_SIGNATURE_INVALID',
    );
    const dupes = `${TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}`;
    expect(openNote(utf8(dupes), [PETER])).toMatchObject({
      verified: [who(PETER)],
      unverified: [who(ENOCH)],
    });
  });

  it('rejects more than the signature limit (Go: 101 signatures)', () => {
    const many = `${TEXT}\n${PETER_SIG.repeat(NOTE_MAX_SIGNATURES + 1)}`;
    expect(codeOf(() => openNote(utf8(many), [PETER]))).toBe('ATTEST_NOTE_MALFORMED');
    expect(openNote(utf8(`${TEXT}\n${PETER_SIG.repeat(16)}`), [PETER]).verified).toHaveLength(1);
  });

  const badMessages: Record<string, Uint8Array> = {
    'text without signatures': utf8(TEXT),
    'text and a blank line only': utf8(`${TEXT}\n`),
    'a signature line without its newline': utf8(`${TEXT}\n${PETER_SIG.slice(0, -1)}`),
    'a control character': utf8(`\x01${TEXT}\n${PETER_SIG}`),
    'invalid UTF-8': Uint8Array.of(0xff, ...utf8(`${TEXT}\n${PETER_SIG}`)),
    'a key name with a space': utf8(
      `${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`,
    ),
    'an unexpected line after the signatures': utf8(`${TEXT}\n${PETER_SIG}Unexpected line.\n`),
    'a hyphen instead of an em dash': utf8(`${TEXT}\n${PETER_SIG.replace('—', '-')}`),
    'a carriage return': utf8(`${TEXT}\n${PETER_SIG.replace('\n', '\r\n')}`),
    'a signature of only a key hash': utf8(`${TEXT}\n— PeterNeumann x08gow==\n`),
    'signature base64 with a space': utf8(`${TEXT}\n${PETER_SIG.replace('x08go', 'x08 go')}`),
    'an empty signature': utf8(`${TEXT}\n— PeterNeumann \n`),
  };
  for (const [name, bytes] of Object.entries(badMessages)) {
    it(`rejects ${name} as ATTEST_NOTE_MALFORMED`, () => {
      expect(codeOf(() => openNote(bytes, [PETER]))).toBe('ATTEST_NOTE_MALFORMED');
    });
  }

  it('rejects a note over the size limit before decoding it', () => {
    const note = utf8(`${TEXT}\n${PETER_SIG}`);
    expect(codeOf(() => openNote(note, [PETER], { maxSizeBytes: note.length - 1 }))).toBe(
      'ATTEST_NOTE_MALFORMED',
    );
  });

  it('splits text from signatures at the last blank line (current C2SP spec example)', () => {
    const note =
      'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n' +
      '— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n';
    const parsed = parseNote(utf8(note));
    expect(parsed.text).toBe(
      'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n',
    );
    expect(parsed.signatures).toHaveLength(1);
    expect(parsed.signatures[0]!.name).toBe('quasimodo.example/salvatore');
    expect(parsed.signatures[0]!.signature).toHaveLength(64);
  });

  it('refuses a trusted key list in which two different keys share name and key hash', () => {
    const twin = { ...PETER, publicKey: ENOCH.publicKey };
    expect(codeOf(() => openNote(utf8(`${TEXT}\n${PETER_SIG}`), [PETER, twin]))).toBe('ATTEST_KEY_AMBIGUOUS');
    expect(openNote(utf8(`${TEXT}\n${PETER_SIG}`), [PETER, PETER]).verified).toEqual([who(PETER)]);
  });
});

describe('signNote', () => {
  const peter = { name: 'PeterNeumann', signer: tweetnaclSigner(PETER_SEED) };

  it('reproduces the Go signature of PeterNeumann byte for byte (Ed25519 is deterministic)', () => {
    expect(signNote(TEXT, [peter])).toBe(`${TEXT}\n${PETER_SIG}`);
  });

  it('writes one line per signer, in order, that openNote verifies', () => {
    const log = { name: 'example.com/log', signer: tweetnaclSigner(new Uint8Array(32).fill(9)) };
    const logKey = parseVerifierKey(formatVerifierKey(log.name, log.signer.publicKey));
    const note = signNote('hello\n\nworld\n', [peter, log]);
    expect(note.split('\n— ').map((part) => part.split(' ')[0])).toEqual([
      'hello\n\nworld\n',
      'PeterNeumann',
      'example.com/log',
    ]);
    expect(openNote(utf8(note), [PETER, logKey]).verified).toEqual([who(PETER), who(logKey)]);
    expect(openNote(utf8(note), [logKey])).toMatchObject({
      text: 'hello\n\nworld\n',
      unverified: [who(PETER)],
    });
  });

  it('catches any changed byte of the signed text', () => {
    const fast = { verify: createNodeEd25519Verify() };
    const note = signNote(TEXT, [peter]);
    for (let i = 0; i < TEXT.length; i++) {
      const changed = note.slice(0, i) + String.fromCharCode(note.charCodeAt(i) ^ 0x01) + note.slice(i + 1);
      expect(
        codeOf(() => openNote(utf8(changed), [PETER], fast)),
        `char ${i}`,
      ).toMatch(/^ATTEST_(SIGNATURE_INVALID|NOTE_MALFORMED)$/);
    }
  });

  it('refuses text that a note cannot carry', () => {
    expect(codeOf(() => signNote('no final newline', [peter]))).toBe('ATTEST_NOTE_MALFORMED');
    expect(codeOf(() => signNote('tab\there\n', [peter]))).toBe('ATTEST_NOTE_MALFORMED');
    expect(codeOf(() => signNote('lone \ud800\n', [peter]))).toBe('ATTEST_ENCODING_INVALID');
    expect(codeOf(() => signNote(TEXT, []))).toBe('ATTEST_NOTE_MALFORMED');
  });

  it('refuses bad key names and two signers with the same key', () => {
    expect(codeOf(() => signNote(TEXT, [{ ...peter, name: 'a b' }]))).toBe('ATTEST_KEY_INVALID');
    expect(codeOf(() => signNote(TEXT, [peter, peter]))).toBe('ATTEST_KEY_AMBIGUOUS');
  });
});
