import { AttestError } from './errors.js';
import { emptyTreeRoot, leafHash, MERKLE_HASH_BYTES, nodeHash } from './merkle.js';

/**
 * Incremental RFC 9162 §2.1 tree root: a "compact range" of the roots of the perfect subtrees
 * that make up a tree of any size, largest (leftmost) first — one per set bit of the size, as in
 * transparency-dev/merkle `compact.Range`. Appending is amortised O(1), worst case O(log n)
 * hashes; the root costs O(log n). The state (size + subtree roots) is small enough to persist
 * with each batch, so the log resumes after a restart without rereading its leaves.
 */

function popCount(n: number): number {
  let count = 0;
  for (let v = n; v > 0; v = Math.floor(v / 2)) count += v % 2;
  return count;
}

/** Appends leaves and yields the RFC 9162 root of everything appended so far. */
export class MerkleTreeBuilder {
  #size = 0;
  readonly #subtrees: Uint8Array[] = [];

  /**
   * Restores a builder from {@link size} and {@link subtreeRoots} saved earlier. Throws
   * `ATTEST_MERKLE_ARGUMENT_INVALID` unless there is one 32-byte root per set bit of `size`.
   */
  static fromState(size: number, subtreeRoots: readonly Uint8Array[]): MerkleTreeBuilder {
    const shapeOk = Number.isSafeInteger(size) && size >= 0 && subtreeRoots.length === popCount(size);
    if (!shapeOk || subtreeRoots.some((h) => h.length !== MERKLE_HASH_BYTES)) {
      throw new AttestError('ATTEST_MERKLE_ARGUMENT_INVALID', 'saved tree state has the wrong shape', {
        details: { size, subtrees: subtreeRoots.length },
      });
    }
    const builder = new MerkleTreeBuilder();
    builder.#size = size;
    builder.#subtrees.push(...subtreeRoots.map((h) => h.slice()));
    return builder;
  }

  /** Number of leaves appended. */
  get size(): number {
    return this.#size;
  }

  /** Copies of the perfect-subtree roots, largest first: the state to persist. */
  get subtreeRoots(): Uint8Array[] {
    return this.#subtrees.map((h) => h.slice());
  }

  /** Appends one leaf by its leaf hash (SHA-256(0x00 ‖ data)); returns the new leaf's index. */
  appendLeafHash(hash: Uint8Array): number {
    if (hash.length !== MERKLE_HASH_BYTES) {
      throw new AttestError('ATTEST_MERKLE_ARGUMENT_INVALID', 'a leaf hash is 32 bytes', {
        details: { sizeBytes: hash.length },
      });
    }
    const index = this.#size;
    // Each trailing 1 bit of the old size is a perfect subtree of the new leaf's size: merge them.
    let merged: Uint8Array = hash.slice();
    for (let s = index; s % 2 === 1; s = (s - 1) / 2) merged = nodeHash(this.#subtrees.pop()!, merged);
    this.#subtrees.push(merged);
    this.#size = index + 1;
    return index;
  }

  /** Appends one leaf by its data; returns the new leaf's index. */
  appendLeaf(data: Uint8Array): number {
    return this.appendLeafHash(leafHash(data));
  }

  /** MTH of all leaves appended: the subtree roots folded right to left. */
  root(): Uint8Array {
    const n = this.#subtrees.length;
    if (n === 0) return emptyTreeRoot();
    let root = this.#subtrees[n - 1]!;
    for (let i = n - 2; i >= 0; i--) root = nodeHash(this.#subtrees[i]!, root);
    return root.slice();
  }
}
