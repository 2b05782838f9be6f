/**
 * The request event API: what the daemon wires (see docs/EVENTS.md). The server, its options,
 * and the token file loader that supplies `tokens` from `events.tokenFile` or a systemd credential.
 */
export { EVENT_ERROR_STATUS, type EventErrorCode } from './errors.js';
export {
  createEventApiServer,
  DEFAULT_OPEN_TIMEOUT_MS,
  type EventApiServer,
  type EventApiServerOptions,
} from './server.js';
export {
  EVENT_TOKENS_CREDENTIAL,
  EventTokenError,
  type EventTokenErrorCode,
  type LoadEventTokensOptions,
  loadEventTokens,
} from './token-file.js';
