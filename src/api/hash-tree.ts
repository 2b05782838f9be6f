import { emptyTreeRoot, MERKLE_HASH_BYTES, nodeHash } from '../attest/merkle.js';

/**
 * The log's RFC 9162 tree held for serving proofs: every leaf hash (32 bytes each, in one
 * growing buffer, not one object per leaf) plus the roots of the aligned perfect subtrees of
 * 2^CACHED_FROM_HEIGHT leaves and more. `attest/merkle.ts` computes a proof from the leaves in
 * O(tree size) hashes, which would let any client make the server hash the whole log per
 * request; with the cached levels a proof costs O(log n · 2^CACHED_FROM_HEIGHT) hashes, for
 * ~1/8 more memory than the leaves alone. The proofs are the same bytes (a test compares them).
 */

/** Subtrees of 16 leaves and larger are cached; smaller ones are rehashed (≤ 15 hashes). */
const CACHED_FROM_HEIGHT = 4;

/** An append-only array of 32-byte hashes in one buffer that doubles when full. */
class HashArray {
  #bytes = new Uint8Array(MERKLE_HASH_BYTES * 64);
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(hash: Uint8Array): void {
    const end = (this.#length + 1) * MERKLE_HASH_BYTES;
    if (end > this.#bytes.length) {
      const grown = new Uint8Array(this.#bytes.length * 2);
      grown.set(this.#bytes);
      this.#bytes = grown;
    }
    this.#bytes.set(hash, end - MERKLE_HASH_BYTES);
    this.#length += 1;
  }

  /** A view of hash `i` (valid after the buffer grows: the old buffer stays alive under it). */
  get(i: number): Uint8Array {
    return this.#bytes.subarray(i * MERKLE_HASH_BYTES, (i + 1) * MERKLE_HASH_BYTES);
  }
}

/** k = the largest power of two smaller than n, for n > 1 (RFC 9162 §2.1.1). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** log2(n) when n is a power of two, else -1. */
function heightOf(n: number): number {
  let height = 0;
  for (let k = 1; k < n; k *= 2) height += 1;
  return 2 ** height === n ? height : -1;
}

/** Leaf hashes with cached perfect-subtree roots; proofs by RFC 9162 §2.1.3.1 and §2.1.4.1. */
export class HashTree {
  readonly #leaves = new HashArray();
  /** `#levels[h]` holds the roots of aligned perfect subtrees of 2^h leaves, for h ≥ CACHED_FROM_HEIGHT. */
  readonly #levels: HashArray[] = [];
  /** Right-edge perfect subtrees still growing, largest first (as MerkleTreeBuilder). */
  readonly #edge: { height: number; hash: Uint8Array }[] = [];

  /** Number of leaves. */
  get size(): number {
    return this.#leaves.length;
  }

  /** Leaf hash `index` (a view; do not modify), or undefined past the end. */
  leaf(index: number): Uint8Array | undefined {
    return index >= 0 && index < this.size ? this.#leaves.get(index) : undefined;
  }

  /** Appends one leaf hash; every perfect subtree it completes is cached when large enough. */
  append(hash: Uint8Array): void {
    this.#leaves.push(hash);
    let merged: { height: number; hash: Uint8Array } = { height: 0, hash: hash.slice() };
    for (let last = this.#edge.at(-1); last?.height === merged.height; last = this.#edge.at(-1)) {
      this.#edge.pop();
      merged = { height: merged.height + 1, hash: nodeHash(last.hash, merged.hash) };
      if (merged.height >= CACHED_FROM_HEIGHT) this.#level(merged.height).push(merged.hash);
    }
    this.#edge.push(merged);
  }

  /** MTH of the first `size` leaves. */
  root(size = this.size): Uint8Array {
    return this.#subtree(0, size);
  }

  /** PATH(leafIndex, D[treeSize]), leaf's sibling first; needs leafIndex < treeSize ≤ size. */
  inclusionProof(leafIndex: number, treeSize: number): Uint8Array[] {
    this.#assertRange(leafIndex < treeSize && treeSize <= this.size && leafIndex >= 0);
    const path: Uint8Array[] = [];
    let [start, end, m] = [0, treeSize, leafIndex];
    while (end - start > 1) {
      const k = splitPoint(end - start);
      if (m < k) {
        path.push(this.#subtree(start + k, end));
        end = start + k;
      } else {
        path.push(this.#subtree(start, start + k));
        [start, m] = [start + k, m - k];
      }
    }
    return path.reverse();
  }

  /** PROOF(size1, D[size2]); empty for size1 = 0 or size1 = size2; needs size1 ≤ size2 ≤ size. */
  consistencyProof(size1: number, size2: number): Uint8Array[] {
    this.#assertRange(size1 >= 0 && size1 <= size2 && size2 <= this.size);
    if (size1 === 0) return [];
    const proof: Uint8Array[] = [];
    // `complete` is the RFC's b: the old tree is still the whole left part, so its root is omitted.
    let [start, end, m, complete] = [0, size2, size1, true];
    while (m !== end - start) {
      const k = splitPoint(end - start);
      if (m <= k) {
        proof.push(this.#subtree(start + k, end));
        end = start + k;
      } else {
        proof.push(this.#subtree(start, start + k));
        [start, m, complete] = [start + k, m - k, false];
      }
    }
    if (!complete) proof.push(this.#subtree(start, end));
    return proof.reverse();
  }

  #assertRange(ok: boolean): void {
    if (!ok) throw new RangeError('tree sizes or leaf index out of range');
  }

  #level(height: number): HashArray {
    for (let h = this.#levels.length; h <= height; h++) this.#levels.push(new HashArray());
    return this.#levels[height]!;
  }

  /**
   * MTH of leaves [start, end). The proof recursions only ask for ranges whose start is aligned
   * to their size rounded up to a power of two, so every left half is an aligned perfect subtree.
   */
  #subtree(start: number, end: number): Uint8Array {
    const n = end - start;
    if (n === 0) return emptyTreeRoot();
    const height = heightOf(n);
    if (height >= 0 && start % n === 0) return this.#perfect(height, start / n);
    const k = splitPoint(n);
    return nodeHash(this.#subtree(start, start + k), this.#subtree(start + k, end));
  }

  /** Root of the `index`-th aligned perfect subtree of 2^height leaves. */
  #perfect(height: number, index: number): Uint8Array {
    if (height === 0) return this.#leaves.get(index);
    const cached = this.#levels[height];
    if (height >= CACHED_FROM_HEIGHT && cached !== undefined && index < cached.length)
      return cached.get(index);
    return nodeHash(this.#perfect(height - 1, 2 * index), this.#perfect(height - 1, 2 * index + 1));
  }
}
