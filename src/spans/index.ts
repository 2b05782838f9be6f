/**
 * OTLP span intake (docs/SPANS.md): inference servers' request spans become requests for
 * attribution, joined with the requests the proxy or the event API reported.
 */
export { createEngineResolver, type EngineResolverOptions } from './engines.js';
export { SPAN_ERROR_STATUS, type SpanErrorCode, SpanIntakeError } from './errors.js';
export { SpanIntake, type SpanIntakeOptions, type SpanIntakeStats } from './intake.js';
export { DEFAULT_JOIN_CAPACITY, SpanJoinIndex } from './join.js';
export { isLoopbackHost } from './loopback.js';
export { createSpanServer, type SpanServer, type SpanServerOptions } from './server.js';
