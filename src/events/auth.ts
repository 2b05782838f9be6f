import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Bearer-token authentication of the event API. Tokens are compared as SHA-256 digests with
 * `timingSafeEqual`, against every configured token without stopping at a match: the time taken
 * depends neither on how much of a token matched nor on its length nor on which token it was.
 * Tokens never appear in messages or logs.
 */

/** Token characters (RFC 6750 `b64token`); 16 to 512 of them. */
export const TOKEN_PATTERN = /^[A-Za-z0-9._~+/=-]{16,512}$/;
const BEARER = /^Bearer +([A-Za-z0-9._~+/=-]{1,512}) *$/i;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * A check of `Authorization` header values against `tokens`. Throws a `RangeError` when there is
 * no token or one is malformed (naming its position, never its text).
 */
export function createBearerCheck(tokens: readonly string[]): (authorization: string | undefined) => boolean {
  if (tokens.length === 0) throw new RangeError('the event API needs at least one bearer token');
  for (const [i, token] of tokens.entries())
    if (!TOKEN_PATTERN.test(token))
      throw new RangeError(
        `event API token #${i + 1} must be 16 to 512 characters of A-Z a-z 0-9 . _ ~ + / = -`,
      );
  const digests = tokens.map(digest);
  return (authorization) => {
    const match = authorization === undefined ? null : BEARER.exec(authorization);
    if (match === null) return false;
    const presented = digest(match[1]!);
    let ok = false;
    for (const known of digests) ok = timingSafeEqual(presented, known) || ok;
    return ok;
  };
}
