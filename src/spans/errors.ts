import { BaseError } from '../errors.js';

/**
 * Stable codes of span intake's HTTP answers, each with its one status. The body follows the
 * OTLP/HTTP rules (a `google.rpc.Status`, in the request's encoding); the code starts its message.
 */
export const SPAN_ERROR_STATUS = {
  /** The body is not a decodable `ExportTraceServiceRequest` (protobuf or OTLP/JSON), or not gzip. */
  SPANS_MALFORMED: 400,
  /** More spans in one export than `spans.maxSpansPerExport`. */
  SPANS_TOO_MANY: 400,
  /** No or a wrong `Authorization: Bearer` token (only when tokens are configured). */
  SPANS_UNAUTHORIZED: 401,
  /** Any route but `POST /v1/traces`. */
  SPANS_NOT_FOUND: 404,
  /** The body, compressed or decompressed, is larger than `spans.maxBodyBytes`. */
  SPANS_TOO_LARGE: 413,
  /** The request headers are larger than 16 KiB. */
  SPANS_HEADERS_TOO_LARGE: 431,
  /** Headers or body did not arrive within `http.headersTimeoutMs` / `http.requestTimeoutMs`. */
  SPANS_REQUEST_TIMEOUT: 408,
  /** Neither `application/x-protobuf` nor `application/json`, or an encoding other than gzip. */
  SPANS_UNSUPPORTED_MEDIA_TYPE: 415,
  /** Anything else; details are in the daemon's log only. */
  SPANS_INTERNAL: 500,
  /** The ledger cannot write (a full disk): retry after `Retry-After` seconds, as OTLP exporters do. */
  SPANS_UNAVAILABLE: 503,
} as const;

export type SpanErrorCode = keyof typeof SPAN_ERROR_STATUS;

/** google.rpc.Code of each status: INVALID_ARGUMENT, UNAUTHENTICATED, NOT_FOUND, … */
const RPC_CODE: Record<number, number> = {
  400: 3,
  401: 16,
  404: 5,
  413: 8,
  415: 3,
  500: 13,
  503: 14,
  408: 4,
  431: 8,
};

/** An error span intake answers with; its status follows from the code. */
export class SpanIntakeError extends BaseError<SpanErrorCode> {
  /** Seconds an exporter should wait before retrying (sent as `Retry-After`), when it applies. */
  retryAfterSeconds: number | undefined;

  get status(): number {
    return SPAN_ERROR_STATUS[this.code];
  }

  /** The `google.rpc.Status` of this error (code, and the message led by the stable code). */
  rpcStatus(): { code: number; message: string } {
    return { code: RPC_CODE[this.status] ?? 2, message: `${this.code}: ${this.message}` };
  }
}
