/** One-line descriptions of the commands for `--help`, kept apart so `main` loads no command module until it runs. */

export const RECEIPT_DESCRIPTION =
  'cut the receipt of one request (its record, the signed batch, two inclusion proofs and the checkpoint), verifiable offline with only the public key';

export const VERIFY_RECEIPT_DESCRIPTION =
  "verify a request receipt offline with trusted public keys: the record's and batch's inclusion, the batch's arithmetic and physics, " +
  'and with --checkpoint its consistency with a checkpoint you kept; exit 0 verified, 1 failed, 2 usage';

export const VERIFY_DESCRIPTION =
  'verify one or more ledgers with only public keys: signatures, hash chain, sequence numbers, energy arithmetic, ' +
  'physics and time, request records and signed checkpoints, saying which batches no checkpoint covers ' +
  '(exit 0 verified, 1 failed, 2 usage or i/o error)';

export const KEYGEN_DESCRIPTION =
  'generate an Ed25519 signing key (private key 0600, public key beside it as <file>.pub) and print the public key in every form a verifier accepts';

export const REPORT_DESCRIPTION =
  'per-model energy of the request records that ended in a window [--from, --to): J per request, per input ' +
  'and per output token with p50/p90/p99, CO2e and water where factors are known, totals and a comparison ' +
  'per output token; each accounting boundary named, never mixed; verified with --key/--trusted-keys, else ' +
  'marked not verified (exit 0 written, 1 verification failed or ledger damaged, 2 usage)';
