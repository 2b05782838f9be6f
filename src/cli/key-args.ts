import { readFile } from 'node:fs/promises';
import { CliError } from '../errors.js';
import { KeyError, parseTrustedKeys, trustedKeyFromText } from '../keys/trusted-keys.js';
import type { VerifierKey } from '../verify/keyring.js';

/** The hint every key problem of a verifying command ends with. */
export const KEY_HINT =
  'pass --key <public key or .pub file> or --trusted-keys <file>; ' +
  '`wattledger keygen` prints the public key in every form';

/** The trusted keys a verifying command was given: `--key` arguments and a `--trusted-keys` file. */
export interface KeyArguments {
  readonly keys: readonly string[];
  readonly trustedKeysFile?: string | undefined;
}

/**
 * Loads the keys of `--key` and `--trusted-keys`: bare keys first, trusted-keys entries last (the
 * keyring keeps the last entry per key id). May return an empty list; the caller decides whether
 * that is an error. Bad keys are `CLI_USAGE`, an unreadable trusted-keys file `CLI_IO`.
 */
export async function loadVerifierKeys(args: KeyArguments): Promise<VerifierKey[]> {
  const keys: VerifierKey[] = [];
  for (const [index, argument] of args.keys.entries()) keys.push(await keyFromArgument(argument, index));
  const path = args.trustedKeysFile;
  if (path !== undefined) {
    const text = await readFile(path, 'utf8').catch((error: unknown) => {
      const reason = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new CliError('CLI_IO', `cannot read trusted-keys file ${path}: ${reason}`, {
        cause: error,
        hint: 'check the path',
      });
    });
    try {
      keys.push(...parseTrustedKeys(text));
    } catch (error) {
      throw keyUsage(error, `trusted-keys file ${path}`);
    }
  }
  return keys;
}

/**
 * A key argument is key text, else a file holding one. Never echoed: a pasted private key must not
 * reach the terminal or a CI log (KeyError messages describe only the shape).
 */
async function keyFromArgument(argument: string, index: number): Promise<VerifierKey> {
  let reason: string;
  try {
    return trustedKeyFromText(argument);
  } catch (error) {
    if (!(error instanceof KeyError)) throw error;
    reason = error.message;
  }
  const text = await readFile(argument, 'utf8').catch(() => null);
  if (text === null)
    throw new CliError(
      'CLI_USAGE',
      `key #${index + 1} is neither a public key nor a readable file: ${reason}`,
      {
        hint: KEY_HINT,
      },
    );
  try {
    return trustedKeyFromText(text);
  } catch (error) {
    throw keyUsage(error, `key file ${argument}`);
  }
}

function keyUsage(error: unknown, where: string): unknown {
  if (!(error instanceof KeyError)) return error;
  return new CliError('CLI_USAGE', `${where}: ${error.message}`, { hint: error.hint ?? KEY_HINT });
}
