import { BaseError } from '../errors.js';

/**
 * Stable codes of the request event API, each with its one status. Clients branch on `code`; the
 * message is for people and may change. Never a token, a path or a stack in either.
 */
export const EVENT_ERROR_STATUS = {
  /** The body, a path parameter or the query is invalid; `problems` lists every issue. */
  EVENTS_INVALID: 400,
  /** The only problems are engine ids this daemon does not know; the message names the known ones. */
  EVENTS_UNKNOWN_ENGINE: 400,
  /** The body is not JSON (or is empty where one is required). */
  EVENTS_MALFORMED: 400,
  /** No or a wrong `Authorization: Bearer` token. */
  EVENTS_UNAUTHORIZED: 401,
  /** No such route. */
  EVENTS_NOT_FOUND: 404,
  /** Progress or end for a request id that was never started here (or long forgotten). */
  EVENTS_UNKNOWN_REQUEST: 404,
  /** A start or end repeats an id with different content. */
  EVENTS_CONFLICT: 409,
  /** Progress for a request that has ended. */
  EVENTS_REQUEST_ENDED: 409,
  /** Progress with fewer tokens or an earlier time than already reported (counts are cumulative). */
  EVENTS_OUT_OF_ORDER: 409,
  /** The body is larger than `maxBodyBytes`. */
  EVENTS_TOO_LARGE: 413,
  /** The request headers are larger than 16 KiB. */
  EVENTS_HEADERS_TOO_LARGE: 431,
  /** Headers or body did not arrive within `http.headersTimeoutMs` / `http.requestTimeoutMs`. */
  EVENTS_REQUEST_TIMEOUT: 408,
  /** The body is not `application/json`. */
  EVENTS_UNSUPPORTED_MEDIA_TYPE: 415,
  /** `maxInFlight` requests are open already; retry after `Retry-After` seconds. */
  EVENTS_TOO_MANY_IN_FLIGHT: 429,
  /** The daemon's event sink failed on a valid event; the event may not have been counted. */
  EVENTS_SINK_FAILED: 500,
  /** Anything else; details are in the server's log only. */
  EVENTS_INTERNAL: 500,
  /**
   * New requests are refused for now: the ledger cannot write (a full disk) or the daemon is
   * stopping. Ends and progress of open requests are still taken. Retry after `Retry-After` seconds.
   */
  EVENTS_UNAVAILABLE: 503,
} as const;

/** A stable event API error code. */
export type EventErrorCode = keyof typeof EVENT_ERROR_STATUS;

/** One validation problem: where (`startedAt`, `events[3].usage.inputTokens`) and what. */
export interface EventProblem {
  readonly path: string;
  readonly message: string;
}

/** The JSON body of every error response. */
export interface EventErrorBody {
  readonly error: {
    readonly code: EventErrorCode;
    readonly message: string;
    readonly problems?: readonly EventProblem[];
  };
}

/** An error a route answers with; its status follows from the code. */
export class EventApiError extends BaseError<EventErrorCode> {
  /** Seconds a client should wait before retrying (sent as `Retry-After`), when it applies. */
  readonly retryAfterSeconds: number | undefined;
  /** Every validation problem, for `EVENTS_INVALID` and `EVENTS_UNKNOWN_ENGINE`. */
  readonly problems: readonly EventProblem[] | undefined;

  constructor(
    code: EventErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number; problems?: readonly EventProblem[] },
  ) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.problems = options?.problems;
  }

  /** The HTTP status of this error's code. */
  get status(): number {
    return EVENT_ERROR_STATUS[this.code];
  }

  /** The response body (also one entry of a batch's results). */
  body(): EventErrorBody {
    const { code, message, problems } = this;
    return { error: problems === undefined ? { code, message } : { code, message, problems } };
  }
}
