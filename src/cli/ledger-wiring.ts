import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { ScannedLine } from '../api/ledger-index.js';
import type { WireAgent, WireEvent } from '../attest/batch-format.js';
import { base64FromBytes, hexFromBytes, utf8FromString } from '../attest/bytes.js';
import { canonicalBytes } from '../attest/canonical.js';
import { leafHash } from '../attest/merkle.js';
import { sha256 } from '../attest/sha256.js';
import { type Clock, rfc3339 } from '../clock.js';
import type { Config } from '../config/schema.js';
import { loadSigningKey } from '../keys/key-file.js';
import { Batcher, type SealedBatch } from '../ledger/batcher.js';
import { ChainStateScan } from '../ledger/chain-state.js';
import { LedgerError } from '../ledger/errors.js';
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
  const origin = config.ledger.origin ?? `wattledger/${host.hostId}`;
  const key = await loadSigningKey({
    path: config.keys.signingKeyPath ?? undefined,
    credentialsDirectory: options.credentialsDirectory,
    name: origin,
  });
  const previousKey = config.keys.previousSigningKeyPath
    ? await loadSigningKey({ path: config.keys.previousSigningKeyPath, name: origin })
    : null;
  const dir = config.ledger.dir;
  // Repairs and lock take-overs deserve attention; a new segment is routine.
  const onEvent = (event: { kind: string }): void =>
    logger[event.kind === 'segment-created' ? 'info' : 'warn'](
      { code: 'LEDGER_EVENT', ...event },
      `ledger: ${event.kind}`,
    );
  const chain = new ChainStateScan();
  const onLine = (item: LedgerLine): void => {
    const bytes = utf8FromString(item.line);
    const leaf = leafHash(bytes);
    chain.addLine(item.line, leaf);
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
    if (state.origin !== null && state.origin !== origin) {
      throw new LedgerError(
        'LEDGER_CORRUPT',
        `the ledger in ${dir} belongs to origin ${state.origin}, not ${origin}`,
        {
          hint: "set ledger.origin to the ledger's origin, or point ledger.dir at a new directory",
        },
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
