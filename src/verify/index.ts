/**
 * The public verifier API, published as `wattledger/verify` (package.json `exports['./verify']`).
 *
 * Everything reachable from this module must run in a browser: no `node:` imports, no file system,
 * no daemon code (probes, ledger store, CLI). `tests/unit/verify/import-graph.test.ts` walks the
 * import graph from here and runs the compiled module with Node's globals removed. Callers read
 * ledger lines and checkpoint notes themselves and feed them to {@link LedgerVerifier}; Node
 * callers may pass the node:crypto fast path (`src/attest/ed25519-node.ts`) as `verify`.
 */

export type {
  BatchPredicate,
  BatchStatement,
  DecimalString,
  SignedDecimalString,
  WireAgent,
  WireAgentStart,
  WireAttribution,
  WireDevice,
  WireDiscontinuity,
  WireEvent,
  WireGap,
  WireKeyAnnouncement,
  WireRequests,
  WireTotals,
  WireWindow,
} from '../attest/batch-format.js';
export {
  BATCH_FORMAT_VERSION,
  BATCH_PAYLOAD_TYPE,
  BATCH_PREDICATE_TYPE,
  STATEMENT_TYPE,
} from '../attest/batch-format.js';
export type { Ed25519Verify } from '../attest/ed25519.js';
export {
  KeyError,
  type KeyErrorCode,
  parseTrustedKeys,
  type TrustedKey,
  trustedKeyFromText,
} from '../keys/trusted-keys.js';
export { VerificationError, type VerificationErrorCode } from './errors.js';
export type { Finding } from './findings.js';
export type { VerifierKey } from './keyring.js';
export { LedgerVerifier, type LedgerVerifierOptions, type VerificationReport } from './verifier.js';
