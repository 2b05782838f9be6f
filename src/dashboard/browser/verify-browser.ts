import nacl from 'tweetnacl';
import { parseTrustedKeys, type TrustedKey, trustedKeyFromText } from '../../keys/trusted-keys.js';
import { type ReceiptReport, verifyReceipt } from '../../verify/receipt.js';

/** A receipt's report and which signature engine checked it. */
export interface BrowserVerification {
  readonly report: ReceiptReport;
  readonly engine: 'WebCrypto Ed25519' | 'tweetnacl';
}

type Triple = readonly [Uint8Array, Uint8Array, Uint8Array];

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Verifies one signature with WebCrypto; null when this browser has no Ed25519 there. */
async function webCryptoVerify([publicKey, message, signature]: Triple): Promise<boolean | null> {
  try {
    const key = await crypto.subtle.importKey('raw', publicKey as BufferSource, { name: 'Ed25519' }, false, [
      'verify',
    ]);
    return await crypto.subtle.verify(
      { name: 'Ed25519' },
      key,
      signature as BufferSource,
      message as BufferSource,
    );
  } catch {
    return null;
  }
}

/**
 * Verifies a receipt in the browser with the project's verifier library. The library's
 * signature hook is synchronous and WebCrypto is not, so it runs twice: a first pass only
 * collects the (key, message, signature) triples it asks about; they are checked with WebCrypto
 * Ed25519 (tweetnacl where the browser lacks it); the second pass, whose report is the one
 * returned, answers from those results (and from tweetnacl for anything the first did not ask).
 */
export async function verifyReceiptInBrowser(
  receipt: unknown,
  keys: readonly TrustedKey[],
): Promise<BrowserVerification> {
  const asked: Triple[] = [];
  verifyReceipt(receipt, keys, {
    verify: (publicKey, message, signature) => {
      asked.push([publicKey, message, signature]);
      return true;
    },
  });
  const results = new Map<string, { message: Uint8Array; ok: boolean }[]>();
  let engine: BrowserVerification['engine'] = 'WebCrypto Ed25519';
  for (const triple of asked) {
    let ok = await webCryptoVerify(triple);
    if (ok === null) {
      engine = 'tweetnacl';
      ok = nacl.sign.detached.verify(triple[1], triple[2], triple[0]);
    }
    const key = hex(triple[0]) + hex(triple[2]);
    results.set(key, [...(results.get(key) ?? []), { message: triple[1], ok }]);
  }
  const report = verifyReceipt(receipt, keys, {
    verify: (publicKey, message, signature) => {
      const known = results.get(hex(publicKey) + hex(signature))?.find((r) => sameBytes(r.message, message));
      return known?.ok ?? nacl.sign.detached.verify(message, signature, publicKey);
    },
  });
  return { report, engine };
}

/** Trusted keys from text: a key in any form wattledger accepts, or a trusted-keys document. */
export function keysFromText(text: string): TrustedKey[] {
  const trimmed = text.trim();
  return trimmed.startsWith('{') ? parseTrustedKeys(trimmed) : [trustedKeyFromText(trimmed)];
}
