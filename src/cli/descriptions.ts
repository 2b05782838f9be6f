/** One-line descriptions of the commands for `--help`, kept apart so `main` loads no command module until it runs. */

export const RECEIPT_DESCRIPTION =
  'cut the receipt of one request (its record, the signed batch, two inclusion proofs and the checkpoint), verifiable offline with only the public key';

export const VERIFY_RECEIPT_DESCRIPTION =
  'verify a request receipt offline with trusted public keys; exit 0 verified, 1 failed, 2 usage';

export const VERIFY_DESCRIPTION =
  'verify a ledger with only public keys: signatures, hash chain, sequence numbers, energy arithmetic ' +
  'and signed checkpoints (exit 0 verified, 1 failed, 2 usage or i/o error)';

export const KEYGEN_DESCRIPTION =
  'generate an Ed25519 signing key (private key 0600, public key beside it as <file>.pub) and print the public key in every form a verifier accepts';
