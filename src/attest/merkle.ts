import { constantTimeEqual } from './bytes.js';
import { AttestError } from './errors.js';
import { SHA256_BYTES, sha256 } from './sha256.js';

/**
 * RFC 9162 §2.1 Merkle Tree Hash (identical to RFC 6962 §2.1) with SHA-256: leaf and node
 * hashing, roots, inclusion and consistency proofs (generation and verification), and an
 * incremental builder. https://www.rfc-editor.org/rfc/rfc9162#section-2.1
 *
 * Written here rather than taken from npm: the npm packages are not RFC-exact (research/
 * standards.md §1.5). Tree sizes and indices are `number`s, checked to be safe integers
 * (< 2^53): a log that appends one batch per second would need 285 million years to get there.
 * JavaScript's bitwise operators truncate to 32 bits, so the RFC's shifts and LSB tests are
 * written as division and `% 2` throughout.
 */

/** Size of every hash in the tree (SHA-256). */
export const MERKLE_HASH_BYTES = SHA256_BYTES;

const EMPTY_ROOT = sha256(new Uint8Array(0));

/** MTH({}) = SHA-256() (§2.1.1): e3b0c442…b855. Returns a fresh copy. */
export function emptyTreeRoot(): Uint8Array {
  return EMPTY_ROOT.slice();
}

/**
 * One reused input buffer for leaf and node hashes: SHA-256 here is synchronous and keeps no
 * reference to its input, so the 0x00 / 0x01 prefix and the data can be laid out in it without a
 * fresh allocation per hash (a Merkle root over 10,000 records is 10,000 node hashes).
 * Leaves larger than this are hashed from a buffer of their own.
 */
const SCRATCH_BYTES = 4096;
const scratch = new Uint8Array(SCRATCH_BYTES);
const nodeInput = scratch.subarray(0, 1 + 2 * SHA256_BYTES);

/** Leaf hash MTH({d}) = SHA-256(0x00 ‖ d) (§2.1.1). The 0x00 prefix separates leaves from nodes. */
export function leafHash(data: Uint8Array): Uint8Array {
  if (data.length >= SCRATCH_BYTES) {
    const input = new Uint8Array(1 + data.length);
    input.set(data, 1);
    return sha256(input);
  }
  scratch[0] = 0x00;
  scratch.set(data, 1);
  return sha256(scratch.subarray(0, 1 + data.length));
}

/** Interior node hash SHA-256(0x01 ‖ left ‖ right) (§2.1.1). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== SHA256_BYTES || right.length !== SHA256_BYTES) {
    const input = new Uint8Array(1 + left.length + right.length);
    input[0] = 0x01;
    input.set(left, 1);
    input.set(right, 1 + left.length);
    return sha256(input);
  }
  nodeInput[0] = 0x01;
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + SHA256_BYTES);
  return sha256(nodeInput);
}

function argumentInvalid(message: string, details: Record<string, number> = {}): AttestError {
  return new AttestError('ATTEST_MERKLE_ARGUMENT_INVALID', message, { details });
}

function proofMalformed(message: string, details: Record<string, number>): AttestError {
  return new AttestError('ATTEST_MERKLE_PROOF_MALFORMED', message, { details });
}

function assertSize(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw argumentInvalid(`${name} must be a safe integer ≥ 0`);
}

function assertHash(name: string, hash: Uint8Array): void {
  if (hash.length !== MERKLE_HASH_BYTES) {
    throw argumentInvalid(`${name} must be ${MERKLE_HASH_BYTES} bytes`, { sizeBytes: hash.length });
  }
}

function assertProofHashes(proof: readonly Uint8Array[]): void {
  proof.forEach((hash, i) => {
    if (hash.length !== MERKLE_HASH_BYTES)
      throw proofMalformed(`proof[${i}] is not a 32-byte hash`, { index: i });
  });
}

/** k = the largest power of two smaller than n, for n > 1 (so k < n ≤ 2k; §2.1.1). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}

/** MTH of leafHashes[start, end): O(end − start) hashes, recursion depth ≤ log2. */
function subtreeRoot(leafHashes: readonly Uint8Array[], start: number, end: number): Uint8Array {
  const n = end - start;
  if (n === 0) return emptyTreeRoot();
  if (n === 1) return leafHashes[start]!;
  const k = splitPoint(n);
  return nodeHash(subtreeRoot(leafHashes, start, start + k), subtreeRoot(leafHashes, start + k, end));
}

/** MTH(D[n]) of already-hashed leaves (use {@link leafHash} on each entry first). */
export function rootFromLeafHashes(leafHashes: readonly Uint8Array[]): Uint8Array {
  return subtreeRoot(leafHashes, 0, leafHashes.length);
}

/**
 * PATH(m, D[n]) (§2.1.3.1): the inclusion proof of leaf `leafIndex` in the tree of the first
 * `treeSize` leaf hashes, leaf's sibling first. O(treeSize) hashes.
 */
export function inclusionProof(
  leafHashes: readonly Uint8Array[],
  leafIndex: number,
  treeSize = leafHashes.length,
): Uint8Array[] {
  assertSize('treeSize', treeSize);
  assertSize('leafIndex', leafIndex);
  if (treeSize > leafHashes.length || leafIndex >= treeSize) {
    throw argumentInvalid('need leafIndex < treeSize ≤ number of leaves', { leafIndex, treeSize });
  }
  const path: Uint8Array[] = [];
  let [start, end, m] = [0, treeSize, leafIndex];
  while (end - start > 1) {
    const k = splitPoint(end - start);
    if (m < k) {
      path.push(subtreeRoot(leafHashes, start + k, end));
      end = start + k;
    } else {
      path.push(subtreeRoot(leafHashes, start, start + k));
      start += k;
      m -= k;
    }
  }
  return path.reverse(); // collected root-down; the RFC lists them leaf-up
}

/**
 * PROOF(m, D[n]) (§2.1.4.1): the consistency proof from the tree of the first `size1` leaves to
 * the tree of the first `size2`. Requires 0 < size1 ≤ size2 ≤ number of leaves; size1 = size2
 * gives the empty proof. O(size2) hashes.
 */
export function consistencyProof(
  leafHashes: readonly Uint8Array[],
  size1: number,
  size2 = leafHashes.length,
): Uint8Array[] {
  assertSize('size1', size1);
  assertSize('size2', size2);
  if (size1 === 0 || size1 > size2 || size2 > leafHashes.length) {
    throw argumentInvalid('need 0 < size1 ≤ size2 ≤ number of leaves', { size1, size2 });
  }
  const proof: Uint8Array[] = [];
  // `complete` is the RFC's b: true while the old tree is the whole left part of the range, so
  // the verifier already holds its root and it is left out of the proof.
  let [start, end, m, complete] = [0, size2, size1, true];
  while (m !== end - start) {
    const k = splitPoint(end - start);
    if (m <= k) {
      proof.push(subtreeRoot(leafHashes, start + k, end));
      end = start + k;
    } else {
      proof.push(subtreeRoot(leafHashes, start, start + k));
      [start, m, complete] = [start + k, m - k, false];
    }
  }
  // SUBPROOF(m, D[m], false) = {MTH(D[m])}; SUBPROOF(m, D[m], true) = {}.
  if (!complete) proof.push(subtreeRoot(leafHashes, start, end));
  return proof.reverse();
}

/** Halves fn and sn together until fn is odd or zero (step 3b / 6b of §2.1.3.2 and §2.1.4.2). */
function shiftUntilOdd(fn: number, sn: number): [number, number] {
  while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn / 2, Math.floor(sn / 2)];
  return [fn, sn];
}

/**
 * The root an inclusion proof leads to, by RFC 9162 §2.1.3.2 step for step. All inputs are
 * attacker-controlled. Throws `ATTEST_MERKLE_ARGUMENT_INVALID` (index ≥ size, bad hash length) or
 * `ATTEST_MERKLE_PROOF_MALFORMED` (the proof is longer or shorter than the path).
 */
export function rootFromInclusionProof(
  leafIndex: number,
  treeSize: number,
  leafHashValue: Uint8Array,
  proof: readonly Uint8Array[],
): Uint8Array {
  assertSize('leafIndex', leafIndex);
  assertSize('treeSize', treeSize);
  assertHash('leafHash', leafHashValue);
  assertProofHashes(proof);
  if (leafIndex >= treeSize) throw argumentInvalid('leafIndex must be < treeSize', { leafIndex, treeSize });
  let [fn, sn, r] = [leafIndex, treeSize - 1, leafHashValue];
  for (const p of proof) {
    if (sn === 0)
      throw proofMalformed('inclusion proof is too long', { leafIndex, treeSize, proofLength: proof.length });
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      [fn, sn] = shiftUntilOdd(fn, sn);
    } else {
      r = nodeHash(r, p);
    }
    [fn, sn] = [Math.floor(fn / 2), Math.floor(sn / 2)];
  }
  if (sn !== 0)
    throw proofMalformed('inclusion proof is too short', { leafIndex, treeSize, proofLength: proof.length });
  return r;
}

/**
 * Verifies that `leafHashValue` is leaf `leafIndex` of the tree of `treeSize` with `rootHash`
 * (RFC 9162 §2.1.3.2). Throws as {@link rootFromInclusionProof}, or `ATTEST_MERKLE_ROOT_MISMATCH`.
 */
export function verifyInclusion(
  leafIndex: number,
  treeSize: number,
  leafHashValue: Uint8Array,
  proof: readonly Uint8Array[],
  rootHash: Uint8Array,
): void {
  assertHash('rootHash', rootHash);
  const computed = rootFromInclusionProof(leafIndex, treeSize, leafHashValue, proof);
  if (!constantTimeEqual(computed, rootHash)) {
    throw new AttestError('ATTEST_MERKLE_ROOT_MISMATCH', 'inclusion proof does not lead to the root', {
      details: { leafIndex, treeSize },
    });
  }
}

function rootMismatch(which: 'first' | 'second', size1: number, size2: number): AttestError {
  return new AttestError(
    'ATTEST_MERKLE_ROOT_MISMATCH',
    `consistency proof does not lead to the ${which} root`,
    {
      details: { size1, size2 },
    },
  );
}

/**
 * Verifies that the tree (size2, root2) extends the tree (size1, root1), by RFC 9162 §2.1.4.2
 * step for step. Edge cases, as transparency-dev/merkle: size1 = size2 needs an empty proof and
 * equal roots. Unlike it, size1 = 0 is accepted with an empty proof when root1 is the empty-tree
 * root (the empty tree is a prefix of every tree). Throws `ATTEST_MERKLE_ARGUMENT_INVALID`,
 * `ATTEST_MERKLE_PROOF_MALFORMED` or `ATTEST_MERKLE_ROOT_MISMATCH`.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  assertSize('size1', size1);
  assertSize('size2', size2);
  assertHash('root1', root1);
  assertHash('root2', root2);
  assertProofHashes(proof);
  if (size1 > size2) throw argumentInvalid('size1 must be ≤ size2', { size1, size2 });
  const details = { size1, size2, proofLength: proof.length };
  if (size1 === size2 || size1 === 0) {
    if (proof.length !== 0) throw proofMalformed('this consistency proof must be empty', details);
    if (!constantTimeEqual(root1, size1 === 0 ? EMPTY_ROOT : root2))
      throw rootMismatch('first', size1, size2);
    return;
  }
  if (proof.length === 0) throw proofMalformed('consistency proof is empty', details); // step 1
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof; // step 2
  let [fn, sn] = [size1 - 1, size2 - 1]; // step 3
  while (fn % 2 === 1) [fn, sn] = [(fn - 1) / 2, Math.floor(sn / 2)]; // step 4
  let [fr, sr] = [path[0]!, path[0]!]; // step 5
  for (const c of path.slice(1)) {
    if (sn === 0) throw proofMalformed('consistency proof is too long', details); // 6a
    if (fn % 2 === 1 || fn === sn) {
      [fr, sr] = [nodeHash(c, fr), nodeHash(c, sr)]; // 6b
      [fn, sn] = shiftUntilOdd(fn, sn);
    } else {
      sr = nodeHash(sr, c);
    }
    [fn, sn] = [Math.floor(fn / 2), Math.floor(sn / 2)]; // 6c
  }
  if (sn !== 0) throw proofMalformed('consistency proof is too short', details); // step 7
  if (!constantTimeEqual(fr, root1)) throw rootMismatch('first', size1, size2);
  if (!constantTimeEqual(sr, root2)) throw rootMismatch('second', size1, size2);
}
