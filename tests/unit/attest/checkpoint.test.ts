import { describe, expect, it } from 'vitest';
import { base64FromBytes, hexFromBytes } from '../../../src/attest/bytes.js';
import {
  type Checkpoint,
  formatCheckpoint,
  openCheckpoint,
  parseCheckpoint,
  signCheckpoint,
} from '../../../src/attest/checkpoint.js';
import { tweetnaclSigner } from '../../../src/attest/ed25519.js';
import { formatVerifierKey, parseVerifierKey } from '../../../src/attest/key-id.js';
import { emptyTreeRoot, leafHash } from '../../../src/attest/merkle.js';
import { MerkleTreeBuilder } from '../../../src/attest/merkle-builder.js';
import { parseNote } from '../../../src/attest/note.js';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
};

// c2sp.org/tlog-checkpoint example.
const C2SP_BODY = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const C2SP_SIGNED = `${C2SP_BODY}\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n`;
// golang.org/x/mod sumdb/tlog/note_test.go TestFormatTree: RecordHash("hello world") at size 123456789012.
const GO_TREE = 'go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n';

describe('parseCheckpoint on published checkpoints', () => {
  it('parses the C2SP example and formats it back byte for byte', () => {
    const checkpoint = parseCheckpoint(C2SP_BODY);
    expect(checkpoint.origin).toBe('example.com/behind-the-sofa');
    expect(checkpoint.treeSize).toBe(20852163);
    expect(checkpoint.rootHash).toHaveLength(32);
    expect(checkpoint.extensions).toEqual([]);
    expect(formatCheckpoint(checkpoint)).toBe(C2SP_BODY);
    expect(parseNote(utf8(C2SP_SIGNED)).text).toBe(C2SP_BODY);
  });

  it('parses the Go sumdb tree, whose root is the RFC 6962 leaf hash of "hello world"', () => {
    const checkpoint = parseCheckpoint(GO_TREE);
    expect(checkpoint.origin).toBe('go.sum database tree');
    expect(checkpoint.treeSize).toBe(123456789012);
    expect(hexFromBytes(checkpoint.rootHash)).toBe(hexFromBytes(leafHash(utf8('hello world'))));
  });

  it('writes origins strictly: the Go origin has spaces, so our writer refuses it', () => {
    expect(codeOf(() => formatCheckpoint(parseCheckpoint(GO_TREE)))).toBe('ATTEST_CHECKPOINT_MALFORMED');
  });
});

describe('parseCheckpoint strictness', () => {
  const root = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=';
  it('accepts size 0, the largest safe size, and extension lines', () => {
    expect(parseCheckpoint(`o\n0\n${root}\n`).treeSize).toBe(0);
    expect(parseCheckpoint(`o\n9007199254740991\n${root}\n`).treeSize).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseCheckpoint(`o\n1\n${root}\nextension one\nx\n`).extensions).toEqual(['extension one', 'x']);
  });

  const rejected: Record<string, string> = {
    'a size with a leading zero': `o\n01\n${root}\n`,
    'a negative size': `o\n-1\n${root}\n`,
    'a size with a plus sign': `o\n+1\n${root}\n`,
    'a hexadecimal size (Go bad tree)': `o\n0xabcdef\n${root}\n`,
    'a decimal point': `o\n1.0\n${root}\n`,
    'a size of 2^53': `o\n9007199254740992\n${root}\n`,
    'a 17-digit size': `o\n12345678901234567\n${root}\n`,
    'an empty size': `o\n\n${root}\n`,
    'an oversized root (Go bad tree)': 'o\n1\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n',
    'a 31-byte root': `o\n1\n${base64FromBytes(new Uint8Array(31))}\n`,
    'a URL-safe root': 'o\n1\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n',
    'a root without padding': `o\n1\n${root.slice(0, -1)}\n`,
    'no final newline': `o\n1\n${root}`,
    'only two lines': 'o\n1\n',
    'an empty origin': `\n1\n${root}\n`,
    'an empty extension line': `o\n1\n${root}\n\n`,
    'CRLF line ends': `o\r\n1\r\n${root}\r\n`,
    'a tab in the origin': `o\tp\n1\n${root}\n`,
    'too many extension lines': `o\n1\n${root}\n${'e\n'.repeat(17)}`,
  };
  for (const [name, text] of Object.entries(rejected)) {
    it(`rejects ${name}`, () => {
      expect(codeOf(() => parseCheckpoint(text))).toBe('ATTEST_CHECKPOINT_MALFORMED');
    });
  }
});

describe('signCheckpoint and openCheckpoint', () => {
  const origin = 'example.com/energy/node-7';
  const signer = tweetnaclSigner(new Uint8Array(32).fill(7));
  const trusted = [parseVerifierKey(formatVerifierKey(origin, signer.publicKey))];
  const builder = new MerkleTreeBuilder();
  for (const entry of ['batch-0', 'batch-1', 'batch-2']) builder.appendLeaf(utf8(entry));
  const checkpoint: Checkpoint = { origin, treeSize: builder.size, rootHash: builder.root(), extensions: [] };
  const signed = signCheckpoint(checkpoint, [{ name: origin, signer }]);

  it('signs the checkpoint of a log and opens it again with the log key', () => {
    expect(signed.startsWith(`${origin}\n3\n${base64FromBytes(builder.root())}\n\n— ${origin} `)).toBe(true);
    const opened = openCheckpoint(utf8(signed), trusted, { expectedOrigin: origin });
    expect(opened.checkpoint).toEqual(checkpoint);
    expect(opened.note.verified).toEqual([{ name: origin, keyHash: trusted[0]!.keyHash }]);
  });

  it('rejects a checkpoint of another log', () => {
    expect(codeOf(() => openCheckpoint(utf8(signed), trusted, { expectedOrigin: 'example.com/other' }))).toBe(
      'ATTEST_CHECKPOINT_ORIGIN_MISMATCH',
    );
  });

  it('rejects a changed tree size or root', () => {
    expect(
      codeOf(() =>
        openCheckpoint(utf8(signed.replace('\n3\n', '\n4\n')), trusted, { expectedOrigin: origin }),
      ),
    ).toBe('ATTEST_SIGNATURE_INVALID');
    const otherRoot = signed.replace(base64FromBytes(builder.root()), base64FromBytes(emptyTreeRoot()));
    expect(codeOf(() => openCheckpoint(utf8(otherRoot), trusted, { expectedOrigin: origin }))).toBe(
      'ATTEST_SIGNATURE_INVALID',
    );
  });

  it('rejects a checkpoint signed by a key it does not trust', () => {
    const stranger = tweetnaclSigner(new Uint8Array(32).fill(8));
    const forged = signCheckpoint(checkpoint, [{ name: origin, signer: stranger }]);
    expect(codeOf(() => openCheckpoint(utf8(forged), trusted, { expectedOrigin: origin }))).toBe(
      'ATTEST_NOTE_UNVERIFIED',
    );
  });

  it('refuses to write a checkpoint with bad fields', () => {
    const bad = (patch: Partial<Checkpoint>) => codeOf(() => formatCheckpoint({ ...checkpoint, ...patch }));
    expect(bad({ origin: '' })).toBe('ATTEST_CHECKPOINT_MALFORMED');
    expect(bad({ origin: 'a+b' })).toBe('ATTEST_CHECKPOINT_MALFORMED');
    expect(bad({ treeSize: -1 })).toBe('ATTEST_CHECKPOINT_MALFORMED');
    expect(bad({ treeSize: 2 ** 53 })).toBe('ATTEST_CHECKPOINT_MALFORMED');
    expect(bad({ rootHash: new Uint8Array(31) })).toBe('ATTEST_CHECKPOINT_MALFORMED');
    expect(bad({ extensions: [''] })).toBe('ATTEST_CHECKPOINT_MALFORMED');
    expect(bad({ extensions: ['a\nb'] })).toBe('ATTEST_CHECKPOINT_MALFORMED');
    expect(bad({ extensions: Array(17).fill('e') })).toBe('ATTEST_CHECKPOINT_MALFORMED');
  });
});
