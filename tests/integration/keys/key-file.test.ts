/**
 * The signing key file against a real file system: generate → load round trip, openssl-compatible
 * PEM, exclusive creation, the permission rule, systemd credentials, and malformed files.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { utf8FromString } from '../../../src/attest/bytes.js';
import { ed25519Verify } from '../../../src/attest/ed25519.js';
import { parsePublicKey, parseVerifierKey } from '../../../src/attest/key-id.js';
import { openNote, signNote } from '../../../src/attest/note.js';
import { generateKeyFile, KeyError, loadSigningKey } from '../../../src/keys/key-file.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

const NAME = 'example.com/energy/node-1';
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await makeTmpDir('wattledger-keys-'));
});
afterEach(async () => {
  await cleanup();
});

async function rejection(promise: Promise<unknown>): Promise<KeyError> {
  const error = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KeyError);
  return error as KeyError;
}

async function writeKey(path: string, text: string, mode = 0o600): Promise<void> {
  await writeFile(path, text, { mode });
  await chmod(path, mode);
}

describe('generateKeyFile → loadSigningKey', () => {
  it('round-trips, and the signer verifies with tweetnacl', async () => {
    const path = join(dir, 'signing.key');
    const generated = await generateKeyFile(path, { name: NAME });
    const loaded = await loadSigningKey({ path, name: NAME });
    expect(loaded.publicKey).toEqual(generated.publicKey);
    expect(loaded.keyId).toBe(generated.keyId);
    expect(loaded.verifierKey).toBe(generated.verifierKey);
    expect(loaded.path).toBe(path);
    expect(loaded.source).toBe('file');
    const message = utf8FromString('a batch');
    expect(ed25519Verify(loaded.publicKey, message, loaded.signer.sign(message))).toBe(true);
    expect(ed25519Verify(loaded.publicKey, utf8FromString('another'), loaded.signer.sign(message))).toBe(
      false,
    );
  });

  it('gives a note signer named by the log origin whose checkpoints verify under the vkey', async () => {
    const path = join(dir, 'signing.key');
    await generateKeyFile(path, { name: NAME });
    const loaded = await loadSigningKey({ path, name: NAME });
    expect(loaded.noteSigner.name).toBe(NAME);
    const note = signNote(`${NAME}\n1\n${'A'.repeat(43)}=\n`, [loaded.noteSigner]);
    const opened = openNote(utf8FromString(note), [parseVerifierKey(loaded.verifierKey)]);
    expect(opened.verified).toHaveLength(1);
  });

  it('writes openssl-compatible PEM: PKCS#8 private 0600, SPKI public 0644', async () => {
    const path = join(dir, 'sub', 'dir', 'signing.key');
    const generated = await generateKeyFile(path, { name: NAME });
    expect(generated.publicKeyPath).toBe(`${path}.pub`);
    const privatePem = await readFile(path, 'utf8');
    expect(privatePem).toMatch(
      /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=]{64}\n-----END PRIVATE KEY-----\n$/,
    );
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(`${path}.pub`)).mode & 0o777).toBe(0o644);
    expect((await stat(join(dir, 'sub'))).mode & 0o777).toBe(0o700);
    const publicPem = await readFile(`${path}.pub`, 'utf8');
    expect(parsePublicKey(publicPem).publicKey).toEqual(generated.publicKey);
    const derived = createPublicKey(createPrivateKey(privatePem)).export({ format: 'pem', type: 'spki' });
    expect(derived.toString()).toBe(publicPem);
  });

  it('refuses to overwrite an existing key or public key file', async () => {
    const path = join(dir, 'signing.key');
    await generateKeyFile(path, { name: NAME });
    const before = await readFile(path, 'utf8');
    const error = await rejection(generateKeyFile(path, { name: NAME }));
    expect(error.code).toBe('KEY_EXISTS');
    expect(error.message).toContain(path);
    expect(error.hint).toBeDefined();
    expect(await readFile(path, 'utf8')).toBe(before);

    const other = join(dir, 'other.key');
    await writeFile(`${other}.pub`, 'an old public key');
    expect((await rejection(generateKeyFile(other, { name: NAME }))).code).toBe('KEY_EXISTS');
    await expect(stat(other)).rejects.toThrow(/ENOENT/);
  });

  it('refuses an invalid key name', async () => {
    for (const name of ['', 'has space', 'a+b']) {
      expect((await rejection(generateKeyFile(join(dir, 'k'), { name }))).code).toBe('KEY_INVALID');
    }
  });
});

describe('permission rule', () => {
  for (const mode of [0o640, 0o644, 0o604, 0o660, 0o620]) {
    it(`refuses a key file with mode ${mode.toString(8)}`, async () => {
      const path = join(dir, 'signing.key');
      await generateKeyFile(path, { name: NAME });
      await chmod(path, mode);
      const error = await rejection(loadSigningKey({ path, name: NAME }));
      expect(error.code).toBe('KEY_INSECURE_PERMISSIONS');
      expect(error.message).toContain(path);
      expect(error.message).toContain(`0${mode.toString(8)}`);
      expect(error.hint).toContain(`chmod 600 ${path}`);
    });
  }

  it('accepts 0400', async () => {
    const path = join(dir, 'signing.key');
    await generateKeyFile(path, { name: NAME });
    await chmod(path, 0o400);
    await expect(loadSigningKey({ path, name: NAME })).resolves.toMatchObject({ path });
  });
});

describe('systemd credentials directory', () => {
  async function credentials(mode: number, name = 'signing-key'): Promise<string> {
    const credentialsDirectory = join(dir, 'credentials');
    await mkdir(credentialsDirectory, { mode: 0o500 });
    const generated = await generateKeyFile(join(dir, 'src.key'), { name: NAME });
    await writeKey(join(credentialsDirectory, name), await readFile(generated.path, 'utf8'), mode);
    return credentialsDirectory;
  }

  it('loads $CREDENTIALS_DIRECTORY/signing-key when no path is given, 0400 and 0440 alike', async () => {
    for (const mode of [0o400, 0o440]) {
      await cleanup();
      ({ dir, cleanup } = await makeTmpDir('wattledger-keys-'));
      const credentialsDirectory = await credentials(mode);
      const loaded = await loadSigningKey({ credentialsDirectory, name: NAME });
      expect(loaded.path).toBe(join(credentialsDirectory, 'signing-key'));
      expect(loaded.source).toBe('credential');
    }
  });

  it('uses the credential rule for an explicit path inside the directory', async () => {
    const credentialsDirectory = await credentials(0o440);
    const path = join(credentialsDirectory, 'signing-key');
    await expect(loadSigningKey({ path, credentialsDirectory, name: NAME })).resolves.toMatchObject({
      source: 'credential',
    });
    expect((await rejection(loadSigningKey({ path, name: NAME }))).code).toBe('KEY_INSECURE_PERMISSIONS');
  });

  it('honours a credential name and refuses one that is a path', async () => {
    const credentialsDirectory = await credentials(0o400, 'ledger-key');
    await expect(
      loadSigningKey({ credentialsDirectory, credentialName: 'ledger-key', name: NAME }),
    ).resolves.toBeTruthy();
    const error = await rejection(
      loadSigningKey({ credentialsDirectory, credentialName: '../src.key', name: NAME }),
    );
    expect(error.code).toBe('KEY_INVALID');
  });

  it('refuses a credential others can read', async () => {
    const credentialsDirectory = await credentials(0o444);
    const error = await rejection(loadSigningKey({ credentialsDirectory, name: NAME }));
    expect(error.code).toBe('KEY_INSECURE_PERMISSIONS');
    expect(error.message).toContain('0444');
  });

  it('says KEY_NOT_FOUND with a keygen hint when nothing is there', async () => {
    const missing = await rejection(loadSigningKey({ credentialsDirectory: dir, name: NAME }));
    expect(missing.code).toBe('KEY_NOT_FOUND');
    expect(missing.hint).toContain('wattledger keygen');
    const unconfigured = await rejection(loadSigningKey({ name: NAME }));
    expect(unconfigured.code).toBe('KEY_NOT_FOUND');
    expect(unconfigured.hint).toContain('LoadCredential=signing-key:');
  });
});

describe('malformed key files', () => {
  const privatePem = (): string =>
    generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();

  async function loadText(text: string): Promise<KeyError> {
    const path = join(dir, 'bad.key');
    await writeKey(path, text);
    return rejection(loadSigningKey({ path, name: NAME }));
  }

  it('refuses a missing file with a keygen hint', async () => {
    const error = await rejection(loadSigningKey({ path: join(dir, 'nope.key'), name: NAME }));
    expect(error.code).toBe('KEY_NOT_FOUND');
    expect(error.hint).toContain('wattledger keygen');
  });

  it('refuses a public key file, naming it as such', async () => {
    const path = join(dir, 'signing.key');
    await generateKeyFile(path, { name: NAME });
    await chmod(`${path}.pub`, 0o600);
    const error = await rejection(loadSigningKey({ path: `${path}.pub`, name: NAME }));
    expect(error.code).toBe('KEY_INVALID');
    expect(error.message).toMatch(/public key/);
  });

  it('refuses malformed PEM without echoing its content', async () => {
    const pem = privatePem();
    const body = pem.split('\n')[1]!;
    const broken = pem.replace(body, `${body.slice(0, 20)}!!${body.slice(22)}`);
    for (const text of [broken, 'hello', '', pem.replace(body, body.slice(0, 30))]) {
      const error = await loadText(text);
      expect(error.code).toBe('KEY_INVALID');
      expect(`${error.message} ${error.hint}`).not.toContain(body.slice(0, 20));
    }
  });

  it('refuses keys of other types and encrypted keys', async () => {
    const rsa = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      format: 'pem',
      type: 'pkcs8',
    });
    expect((await loadText(rsa.toString())).message).toMatch(/ec key, not Ed25519/);
    const encrypted = generateKeyPairSync('ed25519')
      .privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'x' })
      .toString();
    expect((await loadText(encrypted)).message).toMatch(/encrypted/);
  });

  it('refuses a directory', async () => {
    const path = join(dir, 'key-dir');
    await mkdir(path, { mode: 0o700 });
    expect((await rejection(loadSigningKey({ path, name: NAME }))).code).toBe('KEY_INVALID');
  });

  it('refuses an invalid key name before touching the file', async () => {
    expect((await rejection(loadSigningKey({ path: join(dir, 'x'), name: 'a b' }))).code).toBe('KEY_INVALID');
  });
});
