import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { ScannedLine } from '../api/ledger-index.js';
import type { WireAgent, WireEvent } from '../attest/batch-format.js';
import { base64FromBytes, hexFromBytes, utf8FromString } from '../attest/bytes.js';
import { canonicalBytes } from '../attest/canonical.js';
import { formatVerifierKey } from '../attest/key-id.js';
import { leafHash } from '../attest/merkle.js';
import { sha256 } from '../attest/sha256.js';
import { type Clock, rfc3339 } from '../clock.js';
import type { Config } from '../config/schema.js';
import { loadSigningKey } from '../keys/key-file.js';
import { Batcher, type SealedBatch } from '../ledger/batcher.js';
import { ChainStateScan } from '../ledger/chain-state.js';
import {
  type PublishedCheckpoint,
  readPublishedCheckpoint,
  writeCheckpoint,
} from '../ledger/checkpoint-writer.js';
import { LedgerError } from '../ledger/errors.js';
import { belongsTo, genesisOrigin, LEDGER_ID_HEX_DIGITS, ledgerIdFromRandom } from '../ledger/origin.js';
import type { LedgerLine } from '../ledger/reader.js';
import { RecordLog } from '../ledger/record-log.js';
import { LedgerStore } from '../ledger/store.js';
import type { Logger } from '../log.js';
import { type HostIdentity, readHostIdentity } from '../probes/host-identity.js';
import type { DeviceInfo } from '../probes/types.js';
import { VERSION } from '../version.js';

/** An open ledger: the batcher to feed, and how to close everything in order. */
export interface OpenLedger {
  readonly batcher: Batcher;
  readonly origin: string;
  readonly dir: string;
  /** The host identity the batches carry (OTLP resource attributes use it too). */
  readonly host: { readonly hostId: string; readonly hostname?: string };
  /** The signing key's public parts (for the API's /v1/keys). */
  readonly publicKey: {
    readonly keyId: string;
    readonly publicKey: Uint8Array;
    readonly verifierKey: string;
  };
  close(): Promise<void>;
}

/**
 * Opens the daemon's ledger: host identity, signing key (file or systemd credential), the store
 * and record log, the chain state to resume from, and a batcher signing with that key. The ledger
 * is read once: the store's open (which quarantines a torn tail) hands every line to the chain
 * state and to `onStartupLine` (the API index), each line hashed once.
 */
export async function openLedger(options: {
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly devices: readonly DeviceInfo[];
  readonly credentialsDirectory: string | undefined;
  /**
   * Called for every line of the ledger as the store's open reads it, in order (the API index
   * seeds itself from it instead of reading the ledger a second time).
   */
  readonly onStartupLine?: (line: ScannedLine) => void;
  /** Called after each batch is on disk (the API index follows the ledger through it). */
  readonly onSealed?: (sealed: SealedBatch) => void;
  /** The factor snapshot for every batch (carbon, water, energy source). */
  readonly factors?: Readonly<Record<string, unknown>> | null;
  /** Request attribution feeding the batches, when on. */
  readonly attribution?: { readonly deviceIds: ReadonlySet<string>; readonly method: string };
}): Promise<OpenLedger> {
  const { config, logger } = options;
  const host = await readHostIdentity({
    timeoutMs: 5000,
    onNote: (note) => logger.debug({ code: 'HOST_IDENTITY_NOTE' }, note),
  });
  // The base of this agent's origins; each ledger's own origin is chosen below, once its
  // batches (or their absence) are known. The keys are loaded under the base first, so a bad key
  // fails before the ledger directory is touched.
  const baseOrigin = config.ledger.origin ?? `wattledger/${host.hostId}`;
  const baseKey = await loadSigningKey({
    path: config.keys.signingKeyPath ?? undefined,
    credentialsDirectory: options.credentialsDirectory,
    name: baseOrigin,
  });
  const previousKey = config.keys.previousSigningKeyPath
    ? await loadSigningKey({ path: config.keys.previousSigningKeyPath, name: baseOrigin })
    : null;
  const dir = config.ledger.dir;
  // Repairs and lock take-overs deserve attention; a new segment is routine.
  const onEvent = (event: { kind: string }): void =>
    logger[event.kind === 'segment-created' ? 'info' : 'warn'](
      { code: 'LEDGER_EVENT', ...event },
      `ledger: ${event.kind}`,
    );
  // What the agent already published bounds what the open may repair: the lines under it are
  // never truncated, and their root must still be the signed one (bit rot, an edit).
  const published = await readPublishedCheckpoint(dir);
  let rootAtCheckpoint: Uint8Array | null = null;
  const chain = new ChainStateScan();
  const onLine = (item: LedgerLine): void => {
    const bytes = utf8FromString(item.line);
    const leaf = leafHash(bytes);
    chain.addLine(item.line, leaf);
    if (published !== null && item.index + 1 === published.treeSize) rootAtCheckpoint = chain.root();
    options.onStartupLine?.({
      segment: item.segment,
      offset: item.offset,
      length: bytes.length,
      leafHash: leaf,
    });
  };
  const store = await LedgerStore.open({
    dir,
    maxSegmentBytes: config.ledger.maxSegmentBytes,
    onEvent,
    onLine,
    checkpointedLines: published?.treeSize ?? 0,
  });
  try {
    const records = new RecordLog(
      await LedgerStore.open({
        dir: join(dir, 'records'),
        maxSegmentBytes: config.ledger.maxSegmentBytes,
        onEvent,
      }),
    );
    const state = chain.finish(dir);
    if (published !== null) assertPublishedHolds(dir, published, state.origin, rootAtCheckpoint);
    if (state.origin !== null && !belongsTo(state.origin, baseOrigin)) {
      throw new LedgerError(
        'LEDGER_CORRUPT',
        `the ledger in ${dir} belongs to origin ${state.origin}, not to ${baseOrigin} or ${baseOrigin}/<ledger id>`,
        {
          hint: "set ledger.origin to the ledger's origin without its ledger id, or point ledger.dir at a new directory",
        },
      );
    }
    // A new ledger gets its own identity; a resumed one keeps the origin its batches carry.
    const origin =
      state.origin ?? genesisOrigin(baseOrigin, ledgerIdFromRandom(randomBytes(LEDGER_ID_HEX_DIGITS / 2)));
    const key = {
      ...baseKey,
      noteSigner: { name: origin, signer: baseKey.signer },
      verifierKey: formatVerifierKey(origin, baseKey.publicKey),
    };
    // A checkpoint at every start covers what earlier runs sealed, even a run that crashed before
    // its stop checkpoint; during a rotation the old key signs it (the new one is announced later).
    if (state.tree.size > (published?.treeSize ?? 0)) {
      const signer = previousKey ? { name: origin, signer: previousKey.signer } : key.noteSigner;
      await writeCheckpoint(dir, origin, state.tree.size, state.tree.root(), signer);
      logger.info(
        { code: 'LEDGER_CHECKPOINT', treeSize: state.tree.size, reason: 'start' },
        `ledger: published a checkpoint of ${state.tree.size} batches at start`,
      );
    }
    const startEvents: WireEvent[] = [
      {
        kind: 'agent-start',
        startedAt: rfc3339(options.clock.wallUnixNanos()),
        chain: state.nextSequence === 0n ? 'genesis' : 'resumed',
      },
    ];
    if (previousKey) {
      startEvents.push({
        kind: 'key-announcement',
        keyId: key.keyId,
        publicKeyBase64: base64FromBytes(key.publicKey),
        validFrom: rfc3339(options.clock.wallUnixNanos()),
      });
    }
    const batcher = new Batcher({
      store,
      records,
      state,
      signer: key.signer,
      noteSigner: key.noteSigner,
      origin,
      agent: agentOf(host, key.keyId, config),
      devices: options.devices,
      clock: options.clock,
      batchIntervalMs: config.ledger.batchIntervalMs,
      maxRecordsPerBatch: config.ledger.maxRecordsPerBatch,
      checkpointEveryBatches: config.ledger.checkpointEveryBatches,
      startEvents,
      factors: options.factors ?? null,
      ...(previousKey ? { firstBatchCosigners: [previousKey.signer] } : {}),
      ...(options.attribution
        ? {
            attributedDeviceIds: options.attribution.deviceIds,
            attributionMethod: options.attribution.method,
          }
        : {}),
      onSealed: (sealed) => {
        options.onSealed?.(sealed);
        logger.debug(
          {
            code: 'LEDGER_SEALED',
            sequence: sealed.sequence,
            energyMicroJoules: sealed.energyMicroJoules,
            records: sealed.recordCount,
          },
          `sealed batch ${sealed.sequence}`,
        );
      },
      onError: (error, sequence) =>
        logger.error(
          { code: 'LEDGER_WRITE_FAILED', sequence, err: String(error) },
          `could not write batch ${sequence}: ${String(error)}`,
        ),
    });
    logger.info(
      {
        code: 'LEDGER_OPEN',
        dir,
        origin,
        keyId: key.keyId,
        keySource: key.source,
        nextSequence: state.nextSequence,
        verifierKey: key.verifierKey,
      },
      `ledger ${dir}: continuing at batch ${state.nextSequence}, signing as ${key.keyId.slice(0, 16)}…`,
    );
    return {
      batcher,
      origin,
      dir,
      publicKey: { keyId: key.keyId, publicKey: key.publicKey, verifierKey: key.verifierKey },
      host: { hostId: host.hostId, ...(host.hostname ? { hostname: host.hostname } : {}) },
      close: async () => {
        await batcher.stop();
        await records.close();
        await store.close();
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/**
 * The ledger still holds what the agent published: the checkpoint is this ledger's (same origin)
 * and the root of its first `treeSize` lines is the signed root. Else the ledger is damaged below
 * a checkpoint: `LEDGER_CORRUPT`, and the daemon does not start (it would extend a damaged log).
 */
function assertPublishedHolds(
  dir: string,
  published: PublishedCheckpoint,
  origin: string | null,
  rootAtCheckpoint: Uint8Array | null,
): void {
  const hint =
    'run `wattledger verify` on the directory to find the damaged batch; restore the ledger from a backup, ' +
    'or point ledger.dir at a new directory to start a new ledger and keep this one beside it';
  if (origin !== published.origin)
    throw new LedgerError(
      'LEDGER_CORRUPT',
      `${published.path} is a checkpoint of ${published.origin}, but the ledger in ${dir} is ${origin ?? 'empty'}`,
      { hint, details: { path: published.path } },
    );
  if (rootAtCheckpoint === null || hexFromBytes(rootAtCheckpoint) !== hexFromBytes(published.rootHash))
    throw new LedgerError(
      'LEDGER_CORRUPT',
      `the first ${published.treeSize} batches in ${dir} are not the ones signed in ${published.path} (a changed byte: bit rot or an edit)`,
      { hint, details: { path: published.path, treeSize: published.treeSize } },
    );
}

function agentOf(host: HostIdentity, keyId: string, config: Config): WireAgent {
  const optional = (name: keyof HostIdentity) => (host[name] ? { [name]: String(host[name]) } : {});
  return {
    hostId: host.hostId,
    hostIdSource: host.hostIdSource,
    ...optional('hostname'),
    ...optional('systemUuid'),
    ...optional('systemSerial'),
    ...optional('systemModel'),
    ...optional('cpuBrand'),
    ...optional('osDistro'),
    ...optional('kernelRelease'),
    keyId,
    softwareVersion: VERSION,
    configSha256: hexFromBytes(sha256(canonicalBytes(config))),
    runId: randomUUID(),
  };
}
