import { constants, type FileHandle, open } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { BaseError } from '../errors.js';
import { TOKEN_PATTERN } from './auth.js';

/**
 * The event API's bearer tokens live in a file of their own, never in the (often world-readable)
 * configuration. The permission rule is the signing key's (`src/keys/key-file.ts`), checked on the
 * opened file so there is no stat/read race:
 * - a file named by `events.tokenFile` must have no group or other permission bits (0600, 0400);
 * - a systemd credential (`$CREDENTIALS_DIRECTORY/event-api-tokens`, or a path inside that
 *   directory) must have no bits for others (systemd owns the group bit there).
 *
 * Format: one token per line; blank lines and lines starting with `#` are ignored. Several tokens
 * let a token be rotated without downtime (add the new one, move clients, remove the old one).
 */

/** Default credential name for systemd `LoadCredential=event-api-tokens:/etc/wattledger/event-tokens`. */
export const EVENT_TOKENS_CREDENTIAL = 'event-api-tokens';
const MAX_TOKEN_FILE_BYTES = 64 * 1024;
const HINT =
  'write tokens, one per line, e.g. `openssl rand -hex 32 > /etc/wattledger/event-tokens && chmod 600 /etc/wattledger/event-tokens`, and set events.tokenFile';

export type EventTokenErrorCode =
  | 'EVENTS_TOKENS_NOT_FOUND'
  | 'EVENTS_TOKENS_INSECURE_PERMISSIONS'
  | 'EVENTS_TOKENS_INVALID'
  | 'EVENTS_TOKENS_IO';

/** The token file is missing, readable by others, malformed or unreadable. Never holds a token. */
export class EventTokenError extends BaseError<EventTokenErrorCode> {
  readonly hint: string;
  constructor(code: EventTokenErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options.hint ?? HINT;
  }
}

/** Where {@link loadEventTokens} looks. */
export interface LoadEventTokensOptions {
  /** `events.tokenFile`; `null` or absent: the systemd credential. */
  readonly path?: string | null | undefined;
  /** systemd's credentials directory; pass `process.env.CREDENTIALS_DIRECTORY` (not read here). */
  readonly credentialsDirectory?: string | undefined;
}

/**
 * Reads the bearer tokens (at least one) from `options.path`, or from
 * `<credentialsDirectory>/event-api-tokens`. Throws {@link EventTokenError}.
 */
export async function loadEventTokens(options: LoadEventTokensOptions): Promise<string[]> {
  const credentials = options.credentialsDirectory;
  let path: string;
  if (options.path !== undefined && options.path !== null) path = options.path;
  else if (credentials !== undefined && credentials !== '') path = join(credentials, EVENT_TOKENS_CREDENTIAL);
  else
    throw new EventTokenError(
      'EVENTS_TOKENS_NOT_FOUND',
      'the event API is enabled but no token file is configured',
    );
  const inside = credentials !== undefined && credentials !== '' && isInside(credentials, path);
  return parseTokens(await readTokenFile(path, inside ? 0o007 : 0o077), path);
}

function isInside(directory: string, path: string): boolean {
  const rel = relative(resolve(directory), resolve(path));
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

async function readTokenFile(path: string, forbidden: number): Promise<string> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new EventTokenError('EVENTS_TOKENS_NOT_FOUND', `token file ${path} does not exist`, { cause });
    throw new EventTokenError('EVENTS_TOKENS_IO', `cannot open token file ${path} (${code ?? 'unknown'})`, {
      cause,
    });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new EventTokenError('EVENTS_TOKENS_INVALID', `${path} is not a regular file`);
    if ((stat.mode & forbidden) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
      throw new EventTokenError('EVENTS_TOKENS_INSECURE_PERMISSIONS', `token file ${path} has mode ${mode}`, {
        hint: `run \`chmod 600 ${path}\` (a Kubernetes secret volume needs defaultMode: 0400)`,
      });
    }
    if (stat.size > MAX_TOKEN_FILE_BYTES)
      throw new EventTokenError('EVENTS_TOKENS_INVALID', `token file ${path} is larger than 64 KiB`);
    return await handle.readFile('utf8');
  } catch (error) {
    if (error instanceof EventTokenError) throw error;
    throw new EventTokenError('EVENTS_TOKENS_IO', `cannot read token file ${path}`, { cause: error });
  } finally {
    await handle.close();
  }
}

/** Tokens of the file's text; a bad line is named by its number, never its content. */
function parseTokens(text: string, path: string): string[] {
  const tokens: string[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!TOKEN_PATTERN.test(line))
      throw new EventTokenError(
        'EVENTS_TOKENS_INVALID',
        `line ${i + 1} of ${path} is not a token: 16 to 512 characters of A-Z a-z 0-9 . _ ~ + / = -`,
      );
    tokens.push(line);
  }
  if (tokens.length === 0)
    throw new EventTokenError('EVENTS_TOKENS_INVALID', `token file ${path} holds no token`);
  return tokens;
}
