import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { constants, type FileHandle, mkdir, open, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Signer } from '../attest/ed25519.js';
import { nodeSigner } from '../attest/ed25519-node.js';
import { formatVerifierKey, isValidKeyName } from '../attest/key-id.js';
import type { NoteSigner } from '../attest/note.js';
import { KeyError } from './trusted-keys.js';

export { KeyError, type KeyErrorCode } from './trusted-keys.js';

/**
 * The signing key on disk. Node-only. The private key is a PKCS#8 PEM file (what
 * `openssl genpkey -algorithm ed25519` writes), so operators can inspect, back up and re-derive the
 * public key with standard tools; the public key beside it (`<path>.pub`) is SPKI PEM.
 *
 * Permission rule (checked on the opened file, so there is no stat/read race):
 * - a key file named by path must have no group or other permission bits: `(mode & 0o077) === 0`;
 * - a systemd credential (`$CREDENTIALS_DIRECTORY/<name>`, or a path inside that directory) must
 *   have no permission bits for others: `(mode & 0o007) === 0`. systemd itself makes these files
 *   0400/0440 on a private, root-owned mount, where the group bit is systemd's business, not ours.
 * A Kubernetes secret volume must therefore set `defaultMode: 0400` (its default, 0644, is refused).
 */

/** Default credential name for systemd `LoadCredential=signing-key:/etc/wattledger/signing.key`. */
export const DEFAULT_CREDENTIAL_NAME = 'signing-key';
/** A PEM Ed25519 key is ~120 bytes; anything much larger is not one. */
const MAX_KEY_FILE_BYTES = 64 * 1024;
const KEYGEN_HINT =
  'create one with `wattledger keygen --out <file>` and pass it with --signing-key (config keys.signingKeyPath), or run with --no-ledger to measure without signing';

/** What {@link generateKeyFile} wrote. */
export interface GeneratedKeyFile {
  /** The private key file (PKCS#8 PEM, mode 0600). */
  readonly path: string;
  /** The public key file, `<path>.pub` (SPKI PEM, mode 0644). */
  readonly publicKeyPath: string;
  readonly publicKey: Uint8Array;
  readonly keyId: string;
  /** C2SP verifier key `<name>+<hex8>+<base64>`. */
  readonly verifierKey: string;
}

/** A signing key ready to use. */
export interface LoadedSigningKey {
  /** node:crypto signer (the fast path; byte-identical to tweetnacl). */
  readonly signer: Signer;
  /** The same key for checkpoints; its name is the log origin. */
  readonly noteSigner: NoteSigner;
  readonly publicKey: Uint8Array;
  readonly keyId: string;
  readonly verifierKey: string;
  /** The file the key was read from. */
  readonly path: string;
  /** `credential` when read under the systemd credentials directory. */
  readonly source: 'file' | 'credential';
}

/** Where {@link loadSigningKey} looks for the key. */
export interface LoadSigningKeyOptions {
  /** An explicit key file; wins over the credentials directory. */
  readonly path?: string | undefined;
  /** systemd's credentials directory; pass `process.env.CREDENTIALS_DIRECTORY` (not read here). */
  readonly credentialsDirectory?: string | undefined;
  /** Credential name under that directory; default {@link DEFAULT_CREDENTIAL_NAME}. */
  readonly credentialName?: string | undefined;
  /** Signed-note key name: the log origin (no spaces, no '+'). */
  readonly name: string;
}

function assertKeyName(name: string): void {
  if (!isValidKeyName(name)) {
    throw new KeyError('KEY_INVALID', `invalid key name ${JSON.stringify(name)}`, {
      hint: 'the key name is the log origin, e.g. example.com/energy/node-1: non-empty, no spaces, no "+"',
    });
  }
}

function ioError(action: string, path: string, cause: unknown): KeyError {
  const code = (cause as NodeJS.ErrnoException).code ?? 'unknown';
  return new KeyError('KEY_IO', `cannot ${action} ${path} (${code})`, {
    cause,
    path,
    hint:
      code === 'EACCES' || code === 'EPERM'
        ? 'run as a user that may write there'
        : 'check the path and the disk',
  });
}

/** Creates `path` exclusively with exactly `mode`, writes `text`, fsyncs. EEXIST becomes `KEY_EXISTS`. */
async function writeExclusive(path: string, text: string, mode: number): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx', mode);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new KeyError('KEY_EXISTS', `${path} already exists; refusing to overwrite a key`, {
        cause,
        path,
        hint: 'choose another --out path, or move the old key away first if you really mean to replace it',
      });
    }
    throw ioError('create', path, cause);
  }
  try {
    // The umask may only clear bits, but an odd umask (e.g. 0o277) could leave the owner unable to
    // read; set the mode explicitly so the result never depends on the environment.
    await handle.chmod(mode);
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } catch (cause) {
    await handle.close().catch(() => undefined);
    await rm(path, { force: true });
    throw ioError('write', path, cause);
  }
  await handle.close();
}

/**
 * Generates an Ed25519 key with node:crypto and writes it: `path` (PKCS#8 PEM, 0600, created
 * exclusively) and `<path>.pub` (SPKI PEM, 0644). Missing parent directories are created 0700.
 * Refuses to overwrite either file (`KEY_EXISTS`); `KEY_INVALID` for a bad name; `KEY_IO` otherwise.
 */
export async function generateKeyFile(path: string, options: { name: string }): Promise<GeneratedKeyFile> {
  assertKeyName(options.name);
  const publicKeyPath = `${path}.pub`;
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const signer = nodeSigner(privateKey);
  try {
    await mkdir(dirname(resolve(path)), { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw ioError('create the directory of', path, cause);
  }
  await writeExclusive(path, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), 0o600);
  try {
    await writeExclusive(publicKeyPath, publicKey.export({ format: 'pem', type: 'spki' }).toString(), 0o644);
  } catch (error) {
    // A private key without its public half would be re-run into KEY_EXISTS; undo it instead.
    await rm(path, { force: true });
    throw error;
  }
  return {
    path,
    publicKeyPath,
    publicKey: signer.publicKey,
    keyId: signer.keyId,
    verifierKey: formatVerifierKey(options.name, signer.publicKey),
  };
}

function resolveKeyPath(options: LoadSigningKeyOptions): { path: string; source: 'file' | 'credential' } {
  const credentials = options.credentialsDirectory;
  if (options.path !== undefined) {
    const inside = credentials !== undefined && isInside(credentials, options.path);
    return { path: options.path, source: inside ? 'credential' : 'file' };
  }
  if (credentials === undefined || credentials === '') {
    throw new KeyError(
      'KEY_NOT_FOUND',
      'no signing key configured: no key file and no systemd credentials directory',
      {
        hint: `${KEYGEN_HINT}, then pass the file or deploy it with LoadCredential=${DEFAULT_CREDENTIAL_NAME}:/etc/wattledger/signing.key`,
      },
    );
  }
  const name = options.credentialName ?? DEFAULT_CREDENTIAL_NAME;
  if (name === '' || name === '.' || name === '..' || name.includes('/')) {
    throw new KeyError('KEY_INVALID', `invalid credential name ${JSON.stringify(name)}`, {
      hint: 'a credential name is a plain file name such as signing-key',
    });
  }
  return { path: join(credentials, name), source: 'credential' };
}

function isInside(directory: string, path: string): boolean {
  const rel = relative(resolve(directory), resolve(path));
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** Opens, checks (regular file, permissions, size) and reads the key file as text. */
async function readKeyFile(path: string, source: 'file' | 'credential'): Promise<string> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new KeyError('KEY_NOT_FOUND', `signing key ${path} does not exist`, {
        cause,
        path,
        hint: KEYGEN_HINT,
      });
    }
    throw ioError('open', path, cause);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new KeyError('KEY_INVALID', `${path} is not a regular file`, { path });
    const forbidden = source === 'credential' ? 0o007 : 0o077;
    if ((stat.mode & forbidden) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
      const who = source === 'credential' ? 'other users' : 'its group or other users';
      throw new KeyError(
        'KEY_INSECURE_PERMISSIONS',
        `signing key ${path} has mode ${mode}: ${who} may access it`,
        {
          path,
          hint: `run \`chmod 600 ${path}\` (a Kubernetes secret volume needs defaultMode: 0400)`,
        },
      );
    }
    if (stat.size > MAX_KEY_FILE_BYTES)
      throw new KeyError('KEY_INVALID', `${path} is too large to be a key`, { path });
    return await handle.readFile('utf8');
  } catch (error) {
    if (error instanceof KeyError) throw error;
    throw ioError('read', path, error);
  } finally {
    await handle.close();
  }
}

/** Parses PKCS#8 PEM text to an Ed25519 private KeyObject; never puts key text in a message. */
function privateKeyFromPem(text: string, path: string): KeyObject {
  const invalid = (what: string, hint: string, cause?: unknown): KeyError =>
    new KeyError('KEY_INVALID', `${path} ${what}`, { path, hint, ...(cause === undefined ? {} : { cause }) });
  if (text.includes('-----BEGIN PUBLIC KEY-----'))
    throw invalid('is a public key, not a private key', 'pass the private key file, not the .pub file');
  if (text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----'))
    throw invalid(
      'is an encrypted private key',
      'the daemon cannot prompt for a passphrase; protect the file with 0600 or a systemd credential instead',
    );
  if (!text.includes('-----BEGIN PRIVATE KEY-----'))
    throw invalid('is not a PEM "PRIVATE KEY" (PKCS#8) file', KEYGEN_HINT);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem' });
  } catch (cause) {
    throw invalid('holds a PEM block that is not a valid private key', KEYGEN_HINT, cause);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw invalid(`is a ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`, KEYGEN_HINT);
  return key;
}

/**
 * Loads the signing key from `options.path`, or from `<credentialsDirectory>/<credentialName>`
 * (systemd `LoadCredential`) when no path is given. Enforces the permission rule in the module
 * comment. Throws `KEY_NOT_FOUND`, `KEY_INSECURE_PERMISSIONS`, `KEY_INVALID` or `KEY_IO`.
 */
export async function loadSigningKey(options: LoadSigningKeyOptions): Promise<LoadedSigningKey> {
  assertKeyName(options.name);
  const { path, source } = resolveKeyPath(options);
  const privateKey = privateKeyFromPem(await readKeyFile(path, source), path);
  const signer = nodeSigner(privateKey);
  return {
    signer,
    noteSigner: { name: options.name, signer },
    publicKey: signer.publicKey,
    keyId: signer.keyId,
    verifierKey: formatVerifierKey(options.name, signer.publicKey),
    path,
    source,
  };
}
