import { BATCH_PAYLOAD_TYPE } from '../attest/batch-format.js';
import { bytesFromBase64, hexFromBytes, stringFromUtf8, utf8FromString } from '../attest/bytes.js';
import { leafHash } from '../attest/merkle.js';
import { MerkleTreeBuilder } from '../attest/merkle-builder.js';
import { sha256 } from '../attest/sha256.js';
import type { MicroJoules } from '../units.js';
import { LedgerError } from './errors.js';
import { readLedgerLines } from './reader.js';

/** Where the chain stands: what the next batch continues from. */
export interface ChainState {
  /** Sequence number of the next batch. */
  readonly nextSequence: bigint;
  /** SHA-256 (hex) of the last batch's payload, or null for an empty ledger. */
  readonly previousSha256: string | null;
  /** The log's tree over every line so far. */
  readonly tree: MerkleTreeBuilder;
  /** Each device's counter value at the end of the last batch. */
  readonly counters: ReadonlyMap<string, MicroJoules | null>;
  /**
   * Devices whose carried counter value was read at the end of the last batch (it had no gap, or
   * only the bridged downtime it joined): only their advance across the downtime can be counted.
   * For the others the value is older than the batch's end, so the advance also spans time that
   * batch declared unmeasured, and is declared, not counted.
   */
  readonly joinable: ReadonlySet<string>;
  /**
   * Each device's `outstandingDeferredMicroJoules` in the last batch: the next batch's balance
   * starts there (FORMAT.md invariant B), even though a new run's attributor can no longer
   * resolve it.
   */
  readonly outstandingDeferred: ReadonlyMap<string, MicroJoules>;
  /** Wall time the last batch ended, or null for an empty ledger. */
  readonly lastEndUnixNanos: bigint | null;
  readonly origin: string | null;
  readonly lastKeyId: string | null;
}

interface LastBatchFacts {
  readonly sequence: bigint;
  readonly payloadSha256: string;
  readonly endUnixNanos: bigint;
  readonly origin: string;
  readonly keyId: string;
  readonly counters: Map<string, MicroJoules | null>;
  readonly joinable: Set<string>;
  readonly outstandingDeferred: Map<string, MicroJoules>;
}

/**
 * Reads the ledger and returns where the chain stands ({@link ChainStateScan} over every line).
 * The daemon does not call this: it feeds a {@link ChainStateScan} from the store's open, which
 * reads the ledger anyway, so start-up reads it once.
 */
export async function loadChainState(dir: string): Promise<ChainState> {
  const scan = new ChainStateScan();
  for await (const item of readLedgerLines(dir)) {
    if (item.kind === 'error') throw item.error;
    scan.addLine(item.line);
  }
  return scan.finish(dir);
}

/**
 * The chain state built line by line from a pass over the ledger someone else makes: rebuilds the
 * log tree from every line and takes the chain's continuation from the last batch. The daemon
 * wrote these lines itself, so this trusts their signatures (the verifier does not) but still
 * rejects a last line it cannot understand, rather than starting a second chain on top of it.
 */
export class ChainStateScan {
  readonly #tree = new MerkleTreeBuilder();
  #last: string | null = null;
  #finished = false;

  /** The next line of the ledger, in order; `leaf` is its RFC 9162 leaf hash when already known. */
  addLine(line: string, leaf: Uint8Array = leafHash(utf8FromString(line))): void {
    if (this.#finished) throw new Error('ChainStateScan.addLine after finish');
    this.#tree.appendLeafHash(leaf);
    this.#last = line;
  }

  /** The log's RFC 9162 root over the lines added so far (to compare with a published checkpoint). */
  root(): Uint8Array {
    return this.#tree.root();
  }

  /**
   * Where the chain stands after the lines added. Throws `LEDGER_CORRUPT` (naming `dir`) when the
   * last line is not a batch this version can continue from.
   */
  finish(dir: string): ChainState {
    this.#finished = true;
    const tree = this.#tree;
    if (this.#last === null) {
      return {
        nextSequence: 0n,
        previousSha256: null,
        tree,
        counters: new Map(),
        joinable: new Set(),
        outstandingDeferred: new Map(),
        lastEndUnixNanos: null,
        origin: null,
        lastKeyId: null,
      };
    }
    const facts = lastBatchFacts(this.#last, dir);
    return {
      nextSequence: facts.sequence + 1n,
      previousSha256: facts.payloadSha256,
      tree,
      counters: facts.counters,
      joinable: facts.joinable,
      outstandingDeferred: facts.outstandingDeferred,
      lastEndUnixNanos: facts.endUnixNanos,
      origin: facts.origin,
      lastKeyId: facts.keyId,
    };
  }
}

function lastBatchFacts(line: string, dir: string): LastBatchFacts {
  try {
    const envelope = JSON.parse(line) as { payloadType: string; payload: string };
    if (envelope.payloadType !== BATCH_PAYLOAD_TYPE) throw new Error(`payloadType ${envelope.payloadType}`);
    const payload = bytesFromBase64(envelope.payload);
    const predicate = (JSON.parse(stringFromUtf8(payload)) as { predicate: Record<string, unknown> })
      .predicate as {
      sequence: string;
      origin: string;
      agent: { keyId: string };
      window: { endUnixNanos: string };
      devices: {
        deviceId: string;
        counterEndMicroJoules: string | null;
        gapCount: number;
        gaps: { reason: string; bridged: boolean }[];
        attribution: { outstandingDeferredMicroJoules: string };
      }[];
    };
    const counters = new Map<string, MicroJoules | null>();
    const outstandingDeferred = new Map<string, MicroJoules>();
    const joinable = new Set<string>();
    for (const d of predicate.devices) {
      const joined = d.gaps.filter((g) => g.reason === 'agent-downtime' && g.bridged).length;
      if (d.gapCount === joined) joinable.add(d.deviceId);
      counters.set(d.deviceId, d.counterEndMicroJoules === null ? null : BigInt(d.counterEndMicroJoules));
      outstandingDeferred.set(d.deviceId, BigInt(d.attribution.outstandingDeferredMicroJoules));
    }
    return {
      sequence: BigInt(predicate.sequence),
      payloadSha256: hexFromBytes(sha256(payload)),
      endUnixNanos: BigInt(predicate.window.endUnixNanos),
      origin: predicate.origin,
      keyId: predicate.agent.keyId,
      counters,
      joinable,
      outstandingDeferred,
    };
  } catch (cause) {
    throw new LedgerError(
      'LEDGER_CORRUPT',
      `the last batch in ${dir} cannot be read, so the chain cannot resume from it`,
      {
        cause,
        hint: 'run `wattledger verify` on the ledger directory to see what is wrong with it',
      },
    );
  }
}
