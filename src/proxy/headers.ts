/**
 * Header handling for the proxy hop. Headers travel as Node's raw `[name, value, name, value…]`
 * lists so that name case, order and repeats (`set-cookie`) reach the other side as sent; only
 * hop-by-hop headers (RFC 9110 §7.6.1) are removed, because they describe a connection, not the
 * message, and Node frames each side's body itself.
 */

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Header names the `Connection` header lists (also hop-by-hop). */
function connectionTokens(raw: readonly string[]): Set<string> {
  const tokens = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== 'connection') continue;
    for (const token of raw[i + 1]!.split(',')) tokens.add(token.trim().toLowerCase());
  }
  return tokens;
}

/**
 * The end-to-end headers of `raw`, minus the names in `drop` (lowercase), plus `add` (set after
 * the copied ones).
 */
export function forwardHeaders(
  raw: readonly string[],
  drop: ReadonlySet<string>,
  add: Readonly<Record<string, string>> = {},
): string[] {
  const listed = connectionTokens(raw);
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed.has(lower) || drop.has(lower)) continue;
    out.push(name, raw[i + 1]!);
  }
  for (const [name, value] of Object.entries(add)) out.push(name, value);
  return out;
}

/**
 * Request headers never copied upstream: `host` (Node sets the upstream's), `expect` (Node's
 * server already answered `100 Continue`) — plus, on measured requests, the ones the proxy sets.
 */
export const PASS_THROUGH_REQUEST_DROP: ReadonlySet<string> = new Set(['host', 'expect']);

/**
 * On measured requests the proxy sets these itself. The client's own `x-request-id` is not among
 * them: it reaches the server unchanged (vLLM makes it the request's id); the proxy adds its own only
 * when the client sent none.
 */
export const MEASURED_REQUEST_DROP: ReadonlySet<string> = new Set([
  ...PASS_THROUGH_REQUEST_DROP,
  'content-length',
  'traceparent',
  'accept-encoding',
]);

/** Nothing extra is removed from responses. */
export const NO_DROP: ReadonlySet<string> = new Set();

/** When the proxy cuts a chunk out of the body, the upstream's length no longer holds. */
export const CUT_RESPONSE_DROP: ReadonlySet<string> = new Set(['content-length']);

/** The value of header `name` (lowercase) in a raw list, or undefined. */
export function rawHeader(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1];
  return undefined;
}

/** Whether a response is a server-sent event stream. */
export function isEventStream(response: { headers: { 'content-type'?: string | undefined } }): boolean {
  return (response.headers['content-type'] ?? '').toLowerCase().startsWith('text/event-stream');
}

/** Whether a response body is JSON (`application/json`, or a `+json` type). */
export function isJson(response: { headers: { 'content-type'?: string | undefined } }): boolean {
  const type = (response.headers['content-type'] ?? '').toLowerCase().split(';', 1)[0]!.trim();
  return type === 'application/json' || type.endsWith('+json');
}
