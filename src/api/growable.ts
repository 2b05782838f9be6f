/**
 * Append-only numeric columns for the ledger index: one typed array per field, doubled when full,
 * so a million batches cost a few flat buffers rather than a million small objects.
 */

type NumericArray = Uint32Array | Float64Array;

/** A growing column of numbers stored in a typed array of the given kind. */
export class NumberColumn {
  #values: NumericArray;
  #length = 0;
  readonly #make: (capacity: number) => NumericArray;

  /** `kind`: `u32` for counts and lengths, `f64` for byte offsets (exact up to 2^53). */
  constructor(kind: 'u32' | 'f64') {
    this.#make = kind === 'u32' ? (n) => new Uint32Array(n) : (n) => new Float64Array(n);
    this.#values = this.#make(1024);
  }

  get length(): number {
    return this.#length;
  }

  push(value: number): void {
    if (this.#length === this.#values.length) {
      const grown = this.#make(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#length++] = value;
  }

  get(index: number): number {
    return this.#values[index]!;
  }
}
