/**
 * A log identity per ledger (FORMAT.md §3.2, §6.2). Every ledger directory gets its own origin at
 * genesis, `<base>/<ledger id>`, so two ledgers on one host (even under one key) never sign
 * checkpoints under one name, and a receipt cut from one never verifies against the other's
 * checkpoint. The id is chosen once, when the ledger has no batch yet, and persists in every batch
 * (`predicate.origin`): a resumed ledger keeps the origin its batches carry. A ledger written
 * before per-ledger ids (origin exactly `<base>`) keeps it and keeps verifying.
 */

/** Hex digits of a ledger id: 64 random bits. */
export const LEDGER_ID_HEX_DIGITS = 16;
const LEDGER_ID = new RegExp(`^[0-9a-f]{${LEDGER_ID_HEX_DIGITS}}$`);

/** A ledger id from `LEDGER_ID_HEX_DIGITS / 2` random bytes, as lowercase hex. */
export function ledgerIdFromRandom(random: Uint8Array): string {
  if (random.length !== LEDGER_ID_HEX_DIGITS / 2)
    throw new RangeError(`a ledger id needs ${LEDGER_ID_HEX_DIGITS / 2} random bytes, got ${random.length}`);
  return Array.from(random, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The origin of a new ledger: `<base>/<ledger id>`. */
export function genesisOrigin(base: string, ledgerId: string): string {
  if (!LEDGER_ID.test(ledgerId)) throw new RangeError(`not a ledger id: ${JSON.stringify(ledgerId)}`);
  return `${base}/${ledgerId}`;
}

/**
 * Whether a ledger whose batches carry `stored` may be continued by an agent configured with
 * `base`: `stored` is `<base>/<ledger id>`, or exactly `<base>` (a ledger from before per-ledger
 * ids). Anything else is another host's or another configuration's ledger.
 */
export function belongsTo(stored: string, base: string): boolean {
  if (stored === base) return true;
  const prefix = `${base}/`;
  return stored.startsWith(prefix) && LEDGER_ID.test(stored.slice(prefix.length));
}
