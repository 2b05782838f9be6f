export { KEYGEN_DESCRIPTION } from './descriptions.js';

import { base64FromBytes } from '../attest/bytes.js';
import { pemFromEd25519PublicKey } from '../attest/key-id.js';
import { type GeneratedKeyFile, generateKeyFile } from '../keys/key-file.js';

/** Options of `wattledger keygen`. */
export interface KeygenOptions {
  /** Where to write the private key; the public key goes to `<out>.pub`. */
  readonly out: string;
  /** Signed-note key name: the log origin, e.g. `example.com/energy/node-1`. */
  readonly name: string;
  /** Print one JSON object instead of text for a person. */
  readonly json?: boolean | undefined;
}

/** Everything `keygen` reports; all of it is public. */
interface KeygenReport {
  readonly privateKeyPath: string;
  readonly privateKeyMode: '0600';
  readonly publicKeyPath: string;
  readonly keyId: string;
  readonly keyName: string;
  readonly publicKeyBase64: string;
  readonly publicKeyPem: string;
  readonly verifierKey: string;
  readonly trustedKeys: { keys: { publicKey: string; validFrom: string; note: string }[] };
  readonly systemd: string;
}

const SYSTEMD_LINE = 'LoadCredential=signing-key:/etc/wattledger/signing.key';

function reportOf(generated: GeneratedKeyFile, name: string, now: Date): KeygenReport {
  // Seconds precision: the window opens when the key was made, and people read this value.
  const validFrom = `${now.toISOString().slice(0, 19)}Z`;
  return {
    privateKeyPath: generated.path,
    privateKeyMode: '0600',
    publicKeyPath: generated.publicKeyPath,
    keyId: generated.keyId,
    keyName: name,
    publicKeyBase64: base64FromBytes(generated.publicKey),
    publicKeyPem: pemFromEd25519PublicKey(generated.publicKey),
    verifierKey: generated.verifierKey,
    // The verifier key form, because it also carries the name that checkpoints are signed under.
    trustedKeys: {
      keys: [{ publicKey: generated.verifierKey, validFrom, note: `${name}, generated ${validFrom}` }],
    },
    systemd: SYSTEMD_LINE,
  };
}

function renderText(report: KeygenReport): string {
  const indent = (text: string): string =>
    text
      .trimEnd()
      .split('\n')
      .map((line) => `  ${line}`)
      .join('\n');
  return [
    `Private key  ${report.privateKeyPath} (mode ${report.privateKeyMode}; keep it secret, keep it 0600)`,
    `Public key   ${report.publicKeyPath}`,
    `Key name     ${report.keyName}`,
    `Key id       ${report.keyId}`,
    '',
    'Public key, raw (base64):',
    indent(report.publicKeyBase64),
    'Public key, PEM:',
    indent(report.publicKeyPem),
    'C2SP verifier key (checkpoints, signed notes):',
    indent(report.verifierKey),
    '',
    'Trusted-keys file for verifiers (publish it; add validUntil when you rotate):',
    indent(JSON.stringify(report.trustedKeys, null, 2)),
    '',
    'The private key file must stay mode 0600: wattledger refuses a key others can read.',
    'To deploy it as a systemd credential, install it as /etc/wattledger/signing.key and add to the unit:',
    indent(report.systemd),
    'wattledger then reads $CREDENTIALS_DIRECTORY/signing-key when no key file is given.',
    '',
  ].join('\n');
}

/**
 * `wattledger keygen`: creates the key files (refusing to overwrite) and prints the public key in
 * every form, a trusted-keys snippet and deployment hints. Never prints private key material.
 * Throws `KeyError` (`KEY_EXISTS`, `KEY_INVALID`, `KEY_IO`).
 */
export async function runKeygen(options: KeygenOptions, stdout: NodeJS.WritableStream): Promise<void> {
  const generated = await generateKeyFile(options.out, { name: options.name });
  const report = reportOf(generated, options.name, new Date());
  stdout.write(options.json === true ? `${JSON.stringify(report, null, 2)}\n` : renderText(report));
}
