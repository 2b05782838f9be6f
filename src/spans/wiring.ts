import { parseListenAddress } from '../api/listen.js';
import type { Attributor } from '../attribution/attributor.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { loadEventTokens } from '../events/token-file.js';
import type { Logger } from '../log.js';
import type { EngineSpec } from '../requests/types.js';
import { createEngineResolver } from './engines.js';
import { SpanIntake, type SpanIntakeStats } from './intake.js';
import type { SpanJoinIndex } from './join.js';
import { isLoopbackHost } from './loopback.js';
import { createSpanServer, type SpanServer, type SpanServerOptions } from './server.js';

/** The running intake: its server and its counters since start. */
export type RunningSpanIntake = SpanServer & { stats(): Readonly<SpanIntakeStats> };

/**
 * Starts span intake as the daemon configures it (`spans.*`): tokens from `spans.tokenFile` (none
 * when unset, which only a loopback address allows), engines from `spans.services`, the
 * engines' models and the proxy upstreams' models. Logs `SPANS_LISTENING`. Throws
 * `CONFIG_INVALID` for a non-loopback address without tokens or an unknown engine id.
 */
export async function startSpanIntake(options: {
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly engines: readonly EngineSpec[];
  readonly attributor: Attributor;
  readonly join: SpanJoinIndex;
  /** Asked before each export: a refusal (the ledger cannot write) answers 503 with `Retry-After`. */
  readonly admission?: SpanServerOptions['admission'];
  readonly limits?: SpanServerOptions['limits'];
}): Promise<RunningSpanIntake> {
  const { config, logger, attributor } = options;
  const listen = parseListenAddress(config.spans.listen);
  const tokenFile = config.spans.tokenFile;
  if (tokenFile === null && !isLoopbackHost(listen.host))
    throw new ConfigError('CONFIG_INVALID', 'span intake on a non-loopback address needs spans.tokenFile', [
      { path: 'spans.tokenFile', expected: 'a token file (spans.listen is not loopback)', found: 'null' },
    ]);
  const tokens = tokenFile === null ? [] : await loadEventTokens({ path: tokenFile });
  let resolveEngine: ReturnType<typeof createEngineResolver>;
  try {
    resolveEngine = createEngineResolver({
      engines: options.engines,
      upstreams: config.proxy.enabled ? config.proxy.upstreams : [],
      engineByService: Object.fromEntries(config.spans.services.map((s) => [s.name, s.engine])),
    });
  } catch (error) {
    throw new ConfigError('CONFIG_INVALID', (error as Error).message, [
      {
        path: 'spans.services',
        expected: `engine ids (${options.engines.map((e) => e.engineId).join(', ')})`,
        found: JSON.stringify(config.spans.services),
      },
    ]);
  }
  const intake = new SpanIntake({
    sink: attributor.onEvent,
    tracker: attributor.tracker,
    clock: options.clock,
    resolveEngine,
    join: options.join,
    onSpanFailure: (span, error) =>
      logger.error(
        { code: 'SPANS_SPAN_FAILED', traceId: span.traceId, spanId: span.spanId, err: String(error) },
        `spans: span ${span.spanId || '(no id)'} could not be read; rejected alone: ${String(error)}`,
      ),
  });
  const server = await createSpanServer({
    intake,
    listen,
    maxBodyBytes: config.spans.maxBodyBytes,
    maxSpansPerExport: config.spans.maxSpansPerExport,
    tokens,
    logger,
    ...(options.admission ? { admission: options.admission } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
  });
  logger.info(
    { code: 'SPANS_LISTENING', url: `${server.url}/v1/traces`, authenticated: tokens.length > 0 },
    `OTLP span intake on ${server.url}/v1/traces`,
  );
  return {
    ...server,
    stats: () => intake.stats(),
    close: async () => {
      await server.close();
      const stats = intake.stats();
      logger.info(
        { code: 'SPANS_STATS', ...stats },
        `span intake: ${stats.spans} spans, ${stats.requests} requests`,
      );
    },
  };
}
