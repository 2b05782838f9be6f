import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hexFromBytes } from '../../../src/attest/bytes.js';
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
} from '../../../src/attest/merkle.js';
import { MerkleTreeBuilder } from '../../../src/attest/merkle-builder.js';
import { seededBytes } from './prng.js';

/*
 * A naive recursive transcription of the RFC 9162 §2.1 definitions (MTH, PATH, PROOF/SUBPROOF)
 * on node:crypto, independent of src/attest/merkle.ts, checked against it for every tree size
 * 0..64, every leaf index and every pair of sizes.
 */
const h = (...parts: Uint8Array[]): Uint8Array =>
  new Uint8Array(createHash('sha256').update(Buffer.concat(parts)).digest());
const refLeaf = (d: Uint8Array): Uint8Array => h(Uint8Array.of(0), d);
const refNode = (l: Uint8Array, r: Uint8Array): Uint8Array => h(Uint8Array.of(1), l, r);
// k = the largest power of two smaller than n (RFC 9162 §2.1.1), by the definition itself.
const split = (n: number): number => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};

function refMth(d: readonly Uint8Array[]): Uint8Array {
  if (d.length === 0) return h();
  if (d.length === 1) return refLeaf(d[0]!);
  const k = split(d.length);
  return refNode(refMth(d.slice(0, k)), refMth(d.slice(k)));
}
function refPath(m: number, d: readonly Uint8Array[]): Uint8Array[] {
  if (d.length <= 1) return [];
  const k = split(d.length);
  return m < k
    ? [...refPath(m, d.slice(0, k)), refMth(d.slice(k))]
    : [...refPath(m - k, d.slice(k)), refMth(d.slice(0, k))];
}
function refSubproof(m: number, d: readonly Uint8Array[], b: boolean): Uint8Array[] {
  if (m === d.length) return b ? [] : [refMth(d)];
  const k = split(d.length);
  return m <= k
    ? [...refSubproof(m, d.slice(0, k), b), refMth(d.slice(k))]
    : [...refSubproof(m - k, d.slice(k), false), refMth(d.slice(0, k))];
}

const MAX = 64;
const random = seededBytes(9162);
const data = Array.from({ length: MAX }, (_, i) => random(i % 7));
const hashes = data.map(leafHash);
const roots = Array.from({ length: MAX + 1 }, (_, n) => refMth(data.slice(0, n)));
const OTHER = h(new TextEncoder().encode('other'));
const hex = (list: Uint8Array[]): string[] => list.map(hexFromBytes);
const flip = (proof: Uint8Array[], i: number): Uint8Array[] =>
  proof.map((x, j) => (j === i ? x.map((b, k) => (k === 31 ? b ^ 1 : b)) : x));

function fails(fn: () => void): boolean {
  try {
    fn();
    return false;
  } catch (error) {
    return (error as { code?: string }).code?.startsWith('ATTEST_MERKLE_') === true;
  }
}

describe('merkle.ts against the naive RFC 9162 reference', () => {
  it('computes MTH of every tree size 0..64', () => {
    for (let n = 0; n <= MAX; n++)
      expect(hexFromBytes(rootFromLeafHashes(hashes.slice(0, n))), `n=${n}`).toBe(hexFromBytes(roots[n]!));
  });

  it('generates PATH and verifies it for every index of every size 1..64, and rejects each mutation', () => {
    for (let n = 1; n <= MAX; n++) {
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(hashes, m, n);
        const at = `m=${m} n=${n}`;
        expect(hex(proof), at).toEqual(hex(refPath(m, data.slice(0, n))));
        const leaf = hashes[m]!;
        const root = roots[n]!;
        expect(
          fails(() => verifyInclusion(m, n, leaf, proof, root)),
          at,
        ).toBe(false);
        expect(
          fails(() => verifyInclusion(m, n, OTHER, proof, root)),
          `wrong leaf ${at}`,
        ).toBe(true);
        expect(
          fails(() => verifyInclusion(m + 1, n, leaf, proof, root)),
          `index+1 ${at}`,
        ).toBe(true);
        // The smaller tree is claimed with its own root, as a checkpoint would pair them.
        expect(
          fails(() => verifyInclusion(m, n - 1, leaf, proof, roots[n - 1]!)),
          `size-1 ${at}`,
        ).toBe(true);
        expect(
          fails(() => verifyInclusion(m, n, leaf, [...proof, OTHER], root)),
          `trailing ${at}`,
        ).toBe(true);
        if (proof.length > 0) {
          expect(
            fails(() => verifyInclusion(m, n, leaf, proof.slice(0, -1), root)),
            `truncated ${at}`,
          ).toBe(true);
        }
        proof.forEach((_, i) => {
          expect(
            fails(() => verifyInclusion(m, n, leaf, flip(proof, i), root)),
            `bit flip ${i} ${at}`,
          ).toBe(true);
        });
      }
    }
  });

  it('generates PROOF and verifies it for every pair 1 ≤ m ≤ n ≤ 64, and rejects each mutation', () => {
    for (let n = 1; n <= MAX; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = consistencyProof(hashes, m, n);
        const at = `m=${m} n=${n}`;
        expect(hex(proof), at).toEqual(hex(refSubproof(m, data.slice(0, n), true)));
        const [root1, root2] = [roots[m]!, roots[n]!];
        expect(
          fails(() => verifyConsistency(m, n, proof, root1, root2)),
          at,
        ).toBe(false);
        expect(
          fails(() => verifyConsistency(m, n, proof, OTHER, root2)),
          `wrong root1 ${at}`,
        ).toBe(true);
        expect(
          fails(() => verifyConsistency(m, n, proof, root1, OTHER)),
          `wrong root2 ${at}`,
        ).toBe(true);
        expect(
          fails(() => verifyConsistency(m, n, [...proof, OTHER], root1, root2)),
          `trailing ${at}`,
        ).toBe(true);
        if (m < n) {
          expect(
            fails(() => verifyConsistency(m, n, proof.slice(0, -1), root1, root2)),
            `truncated ${at}`,
          ).toBe(true);
          expect(
            fails(() => verifyConsistency(m - 1, n, proof, roots[m - 1]!, root2)),
            `size1-1 ${at}`,
          ).toBe(true);
          expect(
            fails(() => verifyConsistency(m, n - 1, proof, root1, roots[n - 1]!)),
            `size2-1 ${at}`,
          ).toBe(true);
        }
        proof.forEach((_, i) => {
          expect(
            fails(() => verifyConsistency(m, n, flip(proof, i), root1, root2)),
            `bit flip ${i} ${at}`,
          ).toBe(true);
        });
      }
    }
  });
});

describe('sizes beyond 32 bits', () => {
  // In a tree of identical leaves MTH depends only on the size, so PATH and PROOF can be built
  // for astronomically large trees with memoisation. This exercises the verifier's arithmetic
  // past 2^32, where JavaScript bitwise operators would silently truncate.
  const leaf = leafHash(Uint8Array.of(7));
  const memo = new Map<number, Uint8Array>([[1, leaf]]);
  const mth = (n: number): Uint8Array => {
    let r = memo.get(n);
    if (r === undefined) {
      const k = split(n);
      r = refNode(mth(k), mth(n - k));
      memo.set(n, r);
    }
    return r;
  };
  const path = (m: number, n: number): Uint8Array[] => {
    if (n <= 1) return [];
    const k = split(n);
    return m < k ? [...path(m, k), mth(n - k)] : [...path(m - k, n - k), mth(k)];
  };
  const subproof = (m: number, n: number, b: boolean): Uint8Array[] => {
    if (m === n) return b ? [] : [mth(n)];
    const k = split(n);
    return m <= k ? [...subproof(m, k, b), mth(n - k)] : [...subproof(m - k, n - k, false), mth(k)];
  };

  for (const [m, n] of [
    [2 ** 32 + 1, 2 ** 33 + 3],
    [2 ** 40 - 1, 2 ** 41 + 12345],
    [2 ** 52 + 17, 2 ** 53 - 1],
  ] as const) {
    it(`verifies inclusion of leaf ${m} and consistency ${m} → ${n}`, () => {
      // Identical leaves make index and size mutations meaningless; mutate hashes and length.
      const inclusion = path(m, n);
      expect(fails(() => verifyInclusion(m, n, leaf, inclusion, mth(n)))).toBe(false);
      expect(fails(() => verifyInclusion(m, n, OTHER, inclusion, mth(n)))).toBe(true);
      expect(fails(() => verifyInclusion(m, n, leaf, inclusion.slice(1), mth(n)))).toBe(true);
      const consistency = subproof(m, n, true);
      expect(fails(() => verifyConsistency(m, n, consistency, mth(m), mth(n)))).toBe(false);
      expect(fails(() => verifyConsistency(m, n, consistency, mth(m), OTHER))).toBe(true);
      expect(fails(() => verifyConsistency(m, n, consistency.slice(1), mth(m), mth(n)))).toBe(true);
    });
  }
});

describe('MerkleTreeBuilder', () => {
  it('yields the reference root after every append, 0..64 leaves', () => {
    const builder = new MerkleTreeBuilder();
    expect(builder.root()).toEqual(roots[0]);
    for (let n = 1; n <= MAX; n++) {
      expect(builder.appendLeaf(data[n - 1]!)).toBe(n - 1);
      expect(builder.size).toBe(n);
      expect(hexFromBytes(builder.root()), `n=${n}`).toBe(hexFromBytes(roots[n]!));
      expect(builder.subtreeRoots).toHaveLength(n.toString(2).replaceAll('0', '').length);
    }
  });

  it('resumes from saved state and continues to the same roots', () => {
    for (const cut of [0, 1, 5, 32, 33, 63]) {
      const first = new MerkleTreeBuilder();
      for (const d of data.slice(0, cut)) first.appendLeaf(d);
      const resumed = MerkleTreeBuilder.fromState(first.size, first.subtreeRoots);
      for (const d of data.slice(cut)) resumed.appendLeaf(d);
      expect(resumed.root(), `cut ${cut}`).toEqual(roots[MAX]);
    }
  });

  it('matches rootFromLeafHashes for 1,000 random leaves', () => {
    const leaves = Array.from({ length: 1000 }, () => leafHash(random(16)));
    const builder = new MerkleTreeBuilder();
    for (const l of leaves) builder.appendLeafHash(l);
    expect(builder.root()).toEqual(rootFromLeafHashes(leaves));
  });

  it('does not let callers mutate its state through returned arrays', () => {
    const builder = new MerkleTreeBuilder();
    builder.appendLeaf(data[0]!);
    builder.root().fill(0);
    builder.subtreeRoots[0]!.fill(0);
    expect(builder.root()).toEqual(roots[1]);
  });

  it('rejects saved state of the wrong shape and leaf hashes of the wrong length', () => {
    const code = (fn: () => unknown): unknown =>
      expect(fn).toThrow(expect.objectContaining({ code: 'ATTEST_MERKLE_ARGUMENT_INVALID' }));
    code(() => MerkleTreeBuilder.fromState(3, [roots[2]!]));
    code(() => MerkleTreeBuilder.fromState(2, [new Uint8Array(31)]));
    code(() => MerkleTreeBuilder.fromState(-1, []));
    code(() => new MerkleTreeBuilder().appendLeafHash(new Uint8Array(33)));
  });
});
