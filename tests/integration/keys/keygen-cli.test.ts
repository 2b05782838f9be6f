/**
 * `wattledger keygen` through `runKeygen` with a captured stream: every printed public key form
 * parses back to the key on disk, the trusted-keys snippet is a valid document, and nothing
 * private is printed.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parsePublicKey } from '../../../src/attest/key-id.js';
import { KEYGEN_DESCRIPTION, runKeygen } from '../../../src/cli/keygen.js';
import { KeyError, loadSigningKey } from '../../../src/keys/key-file.js';
import { parseTrustedKeys } from '../../../src/keys/trusted-keys.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

const NAME = 'example.com/energy/node-1';
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await makeTmpDir('wattledger-keygen-'));
});
afterEach(async () => {
  await cleanup();
});

async function keygen(out: string, json = false): Promise<string> {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  await runKeygen({ out, name: NAME, json }, stream);
  stream.end();
  return Buffer.concat(chunks).toString('utf8');
}

/** The indented block printed under `heading`, without its indentation. */
function block(text: string, heading: string): string {
  const lines = text.split('\n');
  const start = lines.indexOf(heading);
  expect(start, heading).toBeGreaterThanOrEqual(0);
  const body: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith('  ')) break;
    body.push(line.slice(2));
  }
  return body.join('\n');
}

async function privateBody(path: string): Promise<string> {
  return (await readFile(path, 'utf8')).split('\n')[1]!;
}

describe('runKeygen', () => {
  it('prints every public form for a person, each parsing back to the key on disk', async () => {
    const out = join(dir, 'signing.key');
    const text = await keygen(out);
    const loaded = await loadSigningKey({ path: out, name: NAME });
    expect(text).toContain(`${out} (mode 0600`);
    expect(text).toContain(`${out}.pub`);
    expect(text).toContain(loaded.keyId);
    expect(text).toContain('LoadCredential=signing-key:/etc/wattledger/signing.key');
    expect(text).toMatch(/must stay mode 0600/);

    const forms = [
      block(text, 'Public key, raw (base64):'),
      block(text, 'Public key, PEM:'),
      block(text, 'C2SP verifier key (checkpoints, signed notes):'),
      await readFile(`${out}.pub`, 'utf8'),
    ];
    for (const form of forms) expect(parsePublicKey(form).publicKey, form).toEqual(loaded.publicKey);
    expect(block(text, 'C2SP verifier key (checkpoints, signed notes):')).toBe(loaded.verifierKey);

    const trusted = parseTrustedKeys(
      block(text, 'Trusted-keys file for verifiers (publish it; add validUntil when you rotate):'),
    );
    expect(trusted).toHaveLength(1);
    expect(trusted[0]?.publicKey).toEqual(loaded.publicKey);
    expect(trusted[0]?.verifierKey?.name).toBe(NAME);
    const nowNanos = BigInt(Date.now()) * 1_000_000n;
    expect(trusted[0]?.validFromUnixNanos).toBeLessThanOrEqual(nowNanos);
    expect(trusted[0]?.validFromUnixNanos).toBeGreaterThan(nowNanos - 60_000_000_000n);

    expect(text).not.toContain(await privateBody(out));
    expect(text).not.toContain('PRIVATE KEY-----');
  });

  it('prints one JSON object with --json', async () => {
    const out = join(dir, 'signing.key');
    const report = JSON.parse(await keygen(out, true)) as Record<string, unknown>;
    const loaded = await loadSigningKey({ path: out, name: NAME });
    expect(report).toMatchObject({
      privateKeyPath: out,
      privateKeyMode: '0600',
      publicKeyPath: `${out}.pub`,
      keyId: loaded.keyId,
      keyName: NAME,
      verifierKey: loaded.verifierKey,
      systemd: 'LoadCredential=signing-key:/etc/wattledger/signing.key',
    });
    for (const field of ['publicKeyBase64', 'publicKeyPem', 'verifierKey'] as const) {
      expect(parsePublicKey(report[field] as string).publicKey, field).toEqual(loaded.publicKey);
    }
    expect(parseTrustedKeys(JSON.stringify(report.trustedKeys))[0]?.keyId).toBe(loaded.keyId);
    expect(JSON.stringify(report)).not.toContain(await privateBody(out));
    expect((await stat(out)).mode & 0o777).toBe(0o600);
  });

  it('refuses to overwrite an existing key and prints nothing', async () => {
    const out = join(dir, 'signing.key');
    await keygen(out);
    const before = await readFile(out, 'utf8');
    const stream = new PassThrough();
    let printed = '';
    stream.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
    });
    const error = await runKeygen({ out, name: NAME }, stream).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyError);
    expect((error as KeyError).code).toBe('KEY_EXISTS');
    expect(printed).toBe('');
    expect(await readFile(out, 'utf8')).toBe(before);
  });

  it('has a description for help', () => {
    expect(KEYGEN_DESCRIPTION).toMatch(/Ed25519/);
  });
});
