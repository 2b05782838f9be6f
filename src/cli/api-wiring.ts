import type { ListenerLimits } from '../api/http-limits.js';
import { LedgerIndex } from '../api/ledger-index.js';
import { parseListenAddress } from '../api/listen.js';
import { type ApiServer, createApiServer } from '../api/server.js';
import type { Config } from '../config/schema.js';
import { CliError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Meter } from '../meter/meter.js';
import type { OpenLedger } from './ledger-wiring.js';

/** The daemon's read-only API over its own ledger. */
export interface DaemonApi {
  readonly index: LedgerIndex;
  /** Starts serving (after the ledger is open); the index is built first, with progress logged. */
  start(
    ledger: OpenLedger,
    meter: Meter,
    running: () => boolean,
    ledgerDetail?: () => Record<string, unknown>,
  ): Promise<void>;
  close(): Promise<void>;
}

/** Creates the index (fed by the batcher's onSealed) and, on start, the API server. */
export function createDaemonApi(config: Config, logger: Logger, limits?: ListenerLimits): DaemonApi {
  const index = new LedgerIndex(config.ledger.dir, {
    onError: (error) =>
      logger.error({ code: 'API_INDEX_ERROR', err: String(error) }, `ledger index: ${String(error)}`),
  });
  let server: ApiServer | null = null;
  return {
    index,
    start: async (ledger, meter, running, ledgerDetail) => {
      await index.build({
        onProgress: (progress) =>
          logger.debug({ code: 'API_INDEX_PROGRESS', progress }, 'indexing the ledger'),
      });
      const listen = parseListenAddress(config.api.listen);
      server = await createApiServer({
        index,
        ledgerDir: ledger.dir,
        keys: { current: ledger.publicKey },
        health: () => ({
          ready: running(),
          detail: {
            origin: ledger.origin,
            devices: meter.status().length,
            ...meter.health(),
            ...(ledgerDetail?.() ?? {}),
          },
        }),
        listen,
        maxPageSize: config.api.maxPageSize,
        logger,
        live: () => meter.status(),
        ...(limits ? { limits } : {}),
      }).catch((error: unknown) => {
        throw new CliError(
          'CLI_IO',
          `the ledger API cannot listen on ${config.api.listen}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
          {
            hint: 'choose another address with --api-listen (config api.listen), or turn the API off with --no-api',
            cause: error,
          },
        );
      });
      logger.info({ code: 'API_LISTENING', url: server.url }, `ledger API on ${server.url}`);
    },
    close: async () => {
      await server?.close();
    },
  };
}
