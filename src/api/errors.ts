import { BaseError } from '../errors.js';

/**
 * Stable codes of the HTTP API, each with its one status. Clients branch on `code`; the message
 * is for people and may change. Never a path, a stack or key material in either.
 */
export const API_ERROR_STATUS = {
  /** A query or path parameter is missing, malformed, out of range or not known. */
  API_BAD_PARAMETER: 400,
  /** Not a valid HTTP request, or a URL that cannot be decoded. */
  API_BAD_REQUEST: 400,
  /** No such route. */
  API_NOT_FOUND: 404,
  /** Headers or body did not arrive within `http.headersTimeoutMs` / `http.requestTimeoutMs`. */
  API_REQUEST_TIMEOUT: 408,
  /** No batch with that sequence in the log (yet). */
  API_BATCH_NOT_FOUND: 404,
  /** No checkpoint of that tree size was published. */
  API_CHECKPOINT_NOT_FOUND: 404,
  /** A proof was asked for a tree larger than the log. */
  API_TREE_SIZE_UNKNOWN: 404,
  /** No request record with that id. */
  API_RECORD_NOT_FOUND: 404,
  /** The request's batch is not covered by the latest checkpoint yet; retry later. */
  API_NOT_YET_CHECKPOINTED: 409,
  /** A request body was sent and is too large (the API takes none). */
  API_REQUEST_TOO_LARGE: 413,
  /** The request headers are larger than 16 KiB. */
  API_HEADERS_TOO_LARGE: 431,
  /** Records, batches and checkpoints on disk disagree. */
  API_LEDGER_INCONSISTENT: 500,
  /** Anything else; details are in the server's log only. */
  API_INTERNAL: 500,
  /** The ledger index is still being built. */
  API_NOT_READY: 503,
  /** Too many ledger scans (receipts, records) are running; retry later. */
  API_BUSY: 503,
} as const;

/** A stable API error code. */
export type ApiErrorCode = keyof typeof API_ERROR_STATUS;

/** The JSON body of every error response. */
export interface ApiErrorBody {
  readonly error: { readonly code: ApiErrorCode; readonly message: string };
}

/** An error a route answers with; its status follows from the code. */
export class ApiError extends BaseError<ApiErrorCode> {
  /** Seconds a client should wait before retrying (sent as `Retry-After`), when it applies. */
  readonly retryAfterSeconds: number | undefined;
  constructor(
    code: ApiErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }

  /** The HTTP status of this error's code. */
  get status(): number {
    return API_ERROR_STATUS[this.code];
  }

  /** The response body. */
  body(): ApiErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

/** `API_BAD_PARAMETER` naming the parameter and what it must be. */
export function badParameter(name: string, expected: string): ApiError {
  return new ApiError('API_BAD_PARAMETER', `parameter ${name} must be ${expected}`);
}
