import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bytesFromHex, hexFromBytes } from '../../../src/attest/bytes.js';
import {
  consistencyProof,
  emptyTreeRoot,
  inclusionProof,
  leafHash,
  nodeHash,
  rootFromInclusionProof,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
} from '../../../src/attest/merkle.js';

/*
 * Published vectors of transparency-dev/merkle (Apache-2.0), used as data:
 * testonly/constants.go (LeafInputs, NodeHashes, RootHashes) and proof/verify_test.go
 * (inclusionProofs, consistencyProofs, and the corruptInclusionProof / corruptConsistencyProof
 * mutations). These are the RFC 6962 reference leaves used by Certificate Transparency.
 */
const LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(bytesFromHex);
const ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
].map(bytesFromHex);
const LEAF_HASHES_HEX = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
  '0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7',
  '07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7',
  'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
  '4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658',
  'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
  '46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1',
];
// verify_test.go lists leaves 1-based; converted to 0-based leafIndex here.
const INCLUSION = [
  { leafIndex: 0, treeSize: 8, proof: ['96a296d2', '5f083f0a', '6b47aaf2'] },
  { leafIndex: 5, treeSize: 8, proof: ['bc1a0643', 'ca854ea1', 'd37ee418'] },
  { leafIndex: 2, treeSize: 3, proof: ['fac54203'] },
  { leafIndex: 1, treeSize: 5, proof: ['6e340b9c', '5f083f0a', 'bc1a0643'] },
];
const CONSISTENCY = [
  { size1: 1, size2: 8, proof: ['96a296d2', '5f083f0a', '6b47aaf2'] },
  { size1: 6, size2: 8, proof: ['0ebc5d34', 'ca854ea1', 'd37ee418'] },
  { size1: 2, size2: 5, proof: ['5f083f0a', 'bc1a0643'] },
  { size1: 6, size2: 7, proof: ['0ebc5d34', 'b08693ec', 'd37ee418'] },
];
const FULL_HASHES = new Map(
  [
    ...LEAF_HASHES_HEX,
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
    'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
  ].map((h) => [h.slice(0, 8), h]),
);
const expand = (prefixes: readonly string[]): Uint8Array[] =>
  prefixes.map((p) => bytesFromHex(FULL_HASHES.get(p)!));
const SOME_HASH = bytesFromHex('abacaba000000000000000000000000000000000000000000060061e00123456');
const leafHashes = LEAVES.map(leafHash);

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return 'verified';
};

const flip = (proof: Uint8Array[], i: number, mask: number): Uint8Array[] =>
  proof.map((h, j) => (j === i ? h.map((b, k) => (k === 0 ? b ^ mask : b)) : h));

describe('RFC 6962 hashes of the CT reference leaves', () => {
  it('hashes each leaf as SHA-256(0x00 ‖ d)', () => {
    expect(leafHashes.map(hexFromBytes)).toEqual(LEAF_HASHES_HEX);
  });

  it('computes the published root of every tree size 0..8', () => {
    for (let n = 0; n <= 8; n++) {
      expect(hexFromBytes(rootFromLeafHashes(leafHashes.slice(0, n))), `size ${n}`).toBe(
        hexFromBytes(ROOTS[n]!),
      );
    }
    expect(emptyTreeRoot()).toEqual(ROOTS[0]);
  });
});

describe('inclusion proofs: transparency-dev vectors', () => {
  for (const v of INCLUSION) {
    const proof = expand(v.proof);
    const root = ROOTS[v.treeSize]!;
    const leaf = leafHashes[v.leafIndex]!;
    it(`generates and verifies the proof of leaf ${v.leafIndex} in a tree of ${v.treeSize}`, () => {
      expect(inclusionProof(leafHashes, v.leafIndex, v.treeSize).map(hexFromBytes)).toEqual(
        proof.map(hexFromBytes),
      );
      expect(rootFromInclusionProof(v.leafIndex, v.treeSize, leaf, proof)).toEqual(root);
      expect(() => verifyInclusion(v.leafIndex, v.treeSize, leaf, proof, root)).not.toThrow();
    });

    it(`rejects every corruption of the proof of leaf ${v.leafIndex} in a tree of ${v.treeSize}`, () => {
      const probes: Record<string, () => void> = {
        'leafIndex - 1': () => verifyInclusion(v.leafIndex - 1, v.treeSize, leaf, proof, root),
        'leafIndex + 1': () => verifyInclusion(v.leafIndex + 1, v.treeSize, leaf, proof, root),
        'leafIndex ^ 2': () => verifyInclusion(v.leafIndex ^ 2, v.treeSize, leaf, proof, root),
        'treeSize * 2': () => verifyInclusion(v.leafIndex, v.treeSize * 2, leaf, proof, root),
        'treeSize / 2': () => verifyInclusion(v.leafIndex, Math.floor(v.treeSize / 2), leaf, proof, root),
        'wrong leaf': () =>
          verifyInclusion(v.leafIndex, v.treeSize, new TextEncoder().encode('WrongLeaf'), proof, root),
        'wrong leaf of the right size': () =>
          verifyInclusion(v.leafIndex, v.treeSize, SOME_HASH, proof, root),
        'empty root': () => verifyInclusion(v.leafIndex, v.treeSize, leaf, proof, ROOTS[0]!),
        'random root': () => verifyInclusion(v.leafIndex, v.treeSize, leaf, proof, SOME_HASH),
        'trailing garbage': () =>
          verifyInclusion(v.leafIndex, v.treeSize, leaf, [...proof, new Uint8Array(0)], root),
        'trailing root': () => verifyInclusion(v.leafIndex, v.treeSize, leaf, [...proof, root], root),
        'preceding garbage': () =>
          verifyInclusion(v.leafIndex, v.treeSize, leaf, [new Uint8Array(0), ...proof], root),
        'preceding root': () => verifyInclusion(v.leafIndex, v.treeSize, leaf, [root, ...proof], root),
        'removed component': () => verifyInclusion(v.leafIndex, v.treeSize, leaf, proof.slice(0, -1), root),
        'inserted component': () =>
          verifyInclusion(v.leafIndex, v.treeSize, leaf, [proof[0]!, SOME_HASH, ...proof.slice(1)], root),
      };
      proof.forEach((_, i) => {
        probes[`modified proof[${i}] bit 3`] = () =>
          verifyInclusion(v.leafIndex, v.treeSize, leaf, flip(proof, i, 8), root);
      });
      for (const [name, probe] of Object.entries(probes))
        expect(codeOf(probe), name).toMatch(/^ATTEST_MERKLE_/);
    });
  }

  it('verifies the single-leaf tree with an empty proof and rejects wrong hashes there', () => {
    const hash = leafHash(new TextEncoder().encode('data'));
    expect(codeOf(() => verifyInclusion(0, 1, hash, [], hash))).toBe('verified');
    expect(codeOf(() => verifyInclusion(0, 1, new Uint8Array(0), [], hash))).toBe(
      'ATTEST_MERKLE_ARGUMENT_INVALID',
    );
    expect(codeOf(() => verifyInclusion(0, 1, hash, [], new Uint8Array(0)))).toBe(
      'ATTEST_MERKLE_ARGUMENT_INVALID',
    );
    expect(codeOf(() => verifyInclusion(0, 1, hash, [], SOME_HASH))).toBe('ATTEST_MERKLE_ROOT_MISMATCH');
  });

  it('rejects an index outside the tree, including every index of the empty tree', () => {
    for (const [index, size] of [
      [0, 0],
      [1, 0],
      [1, 1],
      [2, 1],
    ] as const) {
      expect(codeOf(() => verifyInclusion(index, size, SOME_HASH, [], ROOTS[0]!))).toBe(
        'ATTEST_MERKLE_ARGUMENT_INVALID',
      );
    }
  });

  it('rejects indices and sizes that are not safe non-negative integers', () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(codeOf(() => verifyInclusion(bad, 8, SOME_HASH, [], SOME_HASH))).toBe(
        'ATTEST_MERKLE_ARGUMENT_INVALID',
      );
      expect(codeOf(() => verifyInclusion(0, bad, SOME_HASH, [], SOME_HASH))).toBe(
        'ATTEST_MERKLE_ARGUMENT_INVALID',
      );
    }
  });

  it('separates a proof of the wrong length from a root mismatch', () => {
    const proof = expand(INCLUSION[0]!.proof);
    expect(codeOf(() => verifyInclusion(0, 8, leafHashes[0]!, proof.slice(0, 2), ROOTS[8]!))).toBe(
      'ATTEST_MERKLE_PROOF_MALFORMED',
    );
    expect(codeOf(() => verifyInclusion(0, 8, leafHashes[0]!, [...proof, SOME_HASH], ROOTS[8]!))).toBe(
      'ATTEST_MERKLE_PROOF_MALFORMED',
    );
    expect(codeOf(() => verifyInclusion(0, 8, leafHashes[1]!, proof, ROOTS[8]!))).toBe(
      'ATTEST_MERKLE_ROOT_MISMATCH',
    );
  });
});

describe('consistency proofs: transparency-dev vectors', () => {
  for (const v of CONSISTENCY) {
    const proof = expand(v.proof);
    const [root1, root2] = [ROOTS[v.size1]!, ROOTS[v.size2]!];
    it(`generates and verifies the proof from ${v.size1} to ${v.size2}`, () => {
      expect(consistencyProof(leafHashes, v.size1, v.size2).map(hexFromBytes)).toEqual(
        proof.map(hexFromBytes),
      );
      expect(codeOf(() => verifyConsistency(v.size1, v.size2, proof, root1, root2))).toBe('verified');
    });

    it(`rejects every corruption of the proof from ${v.size1} to ${v.size2}`, () => {
      const wrongRoot = new TextEncoder().encode('WrongRoot');
      const probes: Record<string, () => void> = {
        'size1 - 1': () => verifyConsistency(v.size1 - 1, v.size2, proof, root1, root2),
        'size1 + 1': () => verifyConsistency(v.size1 + 1, v.size2, proof, root1, root2),
        'size1 ^ 2': () => verifyConsistency(v.size1 ^ 2, v.size2, proof, root1, root2),
        'size2 * 2': () => verifyConsistency(v.size1, v.size2 * 2, proof, root1, root2),
        'size2 / 2': () => verifyConsistency(v.size1, Math.floor(v.size2 / 2), proof, root1, root2),
        'wrong root1': () => verifyConsistency(v.size1, v.size2, proof, wrongRoot, root2),
        'wrong root2': () => verifyConsistency(v.size1, v.size2, proof, root1, wrongRoot),
        'random root2': () => verifyConsistency(v.size1, v.size2, proof, root1, SOME_HASH),
        'swapped roots': () => verifyConsistency(v.size1, v.size2, proof, root2, root1),
        'empty proof': () => verifyConsistency(v.size1, v.size2, [], root1, root2),
        'trailing garbage': () =>
          verifyConsistency(v.size1, v.size2, [...proof, new Uint8Array(0)], root1, root2),
        'trailing root1': () => verifyConsistency(v.size1, v.size2, [...proof, root1], root1, root2),
        'trailing root2': () => verifyConsistency(v.size1, v.size2, [...proof, root2], root1, root2),
        'preceding garbage': () =>
          verifyConsistency(v.size1, v.size2, [new Uint8Array(0), ...proof], root1, root2),
        'preceding root1': () => verifyConsistency(v.size1, v.size2, [root1, ...proof], root1, root2),
        'preceding root2': () => verifyConsistency(v.size1, v.size2, [root2, ...proof], root1, root2),
        'preceding proof[0]': () => verifyConsistency(v.size1, v.size2, [proof[0]!, ...proof], root1, root2),
        'truncated proof': () => verifyConsistency(v.size1, v.size2, proof.slice(0, -1), root1, root2),
      };
      proof.forEach((_, i) => {
        probes[`modified proof[${i}] bit 4`] = () =>
          verifyConsistency(v.size1, v.size2, flip(proof, i, 16), root1, root2);
      });
      for (const [name, probe] of Object.entries(probes))
        expect(codeOf(probe), name).toMatch(/^ATTEST_MERKLE_/);
    });
  }

  it('requires an empty proof and equal roots when the sizes are equal', () => {
    expect(codeOf(() => verifyConsistency(8, 8, [], ROOTS[8]!, ROOTS[8]!))).toBe('verified');
    expect(codeOf(() => verifyConsistency(8, 8, [], ROOTS[8]!, ROOTS[7]!))).toBe(
      'ATTEST_MERKLE_ROOT_MISMATCH',
    );
    expect(codeOf(() => verifyConsistency(8, 8, [ROOTS[0]!], ROOTS[8]!, ROOTS[8]!))).toBe(
      'ATTEST_MERKLE_PROOF_MALFORMED',
    );
    expect(consistencyProof(leafHashes, 8, 8)).toEqual([]);
  });

  it('accepts the empty tree as a prefix of any tree only with its real root and an empty proof', () => {
    expect(codeOf(() => verifyConsistency(0, 8, [], ROOTS[0]!, ROOTS[8]!))).toBe('verified');
    expect(codeOf(() => verifyConsistency(0, 0, [], ROOTS[0]!, ROOTS[0]!))).toBe('verified');
    expect(codeOf(() => verifyConsistency(0, 8, [], SOME_HASH, ROOTS[8]!))).toBe(
      'ATTEST_MERKLE_ROOT_MISMATCH',
    );
    expect(codeOf(() => verifyConsistency(0, 8, [ROOTS[0]!], ROOTS[0]!, ROOTS[8]!))).toBe(
      'ATTEST_MERKLE_PROOF_MALFORMED',
    );
  });

  it('rejects going back in time', () => {
    expect(codeOf(() => verifyConsistency(2, 1, [], ROOTS[2]!, ROOTS[1]!))).toBe(
      'ATTEST_MERKLE_ARGUMENT_INVALID',
    );
  });

  it('refuses to generate proofs for sizes outside 0 < size1 ≤ size2 ≤ leaves', () => {
    expect(codeOf(() => consistencyProof(leafHashes, 0, 8))).toBe('ATTEST_MERKLE_ARGUMENT_INVALID');
    expect(codeOf(() => consistencyProof(leafHashes, 3, 2))).toBe('ATTEST_MERKLE_ARGUMENT_INVALID');
    expect(codeOf(() => consistencyProof(leafHashes, 3, 9))).toBe('ATTEST_MERKLE_ARGUMENT_INVALID');
    expect(codeOf(() => inclusionProof(leafHashes, 8))).toBe('ATTEST_MERKLE_ARGUMENT_INVALID');
    expect(codeOf(() => inclusionProof(leafHashes, 0, 9))).toBe('ATTEST_MERKLE_ARGUMENT_INVALID');
  });
});

describe('leaf and node hashes through the reused input buffer', () => {
  const sha = (...parts: Uint8Array[]): string => {
    const hash = createHash('sha256');
    for (const part of parts) hash.update(part);
    return hash.digest('hex');
  };

  it('hashes leaves of every size around the reused buffer (4,096 bytes) as SHA-256(0x00 ‖ d)', () => {
    for (const size of [0, 1, 64, 4094, 4095, 4096, 4097, 100_000]) {
      const data = new Uint8Array(size).map((_, i) => (i * 31 + size) % 256);
      expect(hexFromBytes(leafHash(data)), `size ${size}`).toBe(sha(Uint8Array.of(0), data));
    }
  });

  it('returns digests that later hashes do not overwrite, and hashes nodes as SHA-256(0x01 ‖ l ‖ r)', () => {
    const [a, b] = [leafHashes[0]!, leafHashes[1]!];
    const ab = nodeHash(a, b);
    const copy = ab.slice();
    const ba = nodeHash(b, a);
    leafHash(new Uint8Array(300).fill(7));
    expect(ab).toEqual(copy);
    expect(hexFromBytes(ab)).toBe(sha(Uint8Array.of(1), a, b));
    expect(hexFromBytes(ba)).toBe(sha(Uint8Array.of(1), b, a));
    // A node over a previous result as its own input (the tree folds that way).
    expect(hexFromBytes(nodeHash(ab, ab))).toBe(sha(Uint8Array.of(1), copy, copy));
  });
});
