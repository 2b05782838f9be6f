import { NOT_FAST, Parser } from './fast-parser.js';

/** What a canonical ledger line holds when it has the plain DSSE shape (no other members). */
export interface FastEnvelope {
  readonly payload: string;
  readonly payloadType: string;
  readonly signatures: { keyid?: string; sig: string }[];
}

const BASE64ISH = /^[A-Za-z0-9+/=_-]*$/;
const KEYID = /^[0-9a-f]{0,128}$/;
const PAYLOAD_TYPE = /^[A-Za-z0-9.+/-]{1,128}$/;

/**
 * The envelope of a ledger line written `{"payload":"…","payloadType":"…","signatures":[{"keyid":
 * "…","sig":"…"},…]}`, with base64 signatures, a plain payloadType and hex key ids. Null for any
 * other line (the caller parses it the reference way).
 *
 * The payload string is not scanned here (a regex over it costs as much as the rest of the line):
 * it is only known to hold no quote. So the result counts only once `verifyDsse` has decoded that
 * payload as strict base64 (nothing but the base64 alphabet); if `verifyDsse` refuses it, the
 * caller must start again from JSON.parse. Once both hold, the line is valid JSON, JSON.parse
 * builds this same object, and the line is the RFC 8785 form of it (members in order, nothing to
 * escape).
 */
export function parseEnvelopeCandidate(line: string): FastEnvelope | null {
  const p = new Parser(line);
  try {
    p.expect('{"payload":');
    const payload = p.string();
    p.expect(',"payloadType":');
    const payloadType = p.string();
    if (!PAYLOAD_TYPE.test(payloadType)) return null;
    p.expect(',"signatures":');
    const signatures = p.array((q) => {
      q.expect('{');
      let keyid: string | undefined;
      if (q.at('"keyid":')) {
        q.pos += 8;
        keyid = q.string();
        if (!KEYID.test(keyid)) q.fail();
        q.expect(',');
      }
      q.expect('"sig":');
      const sig = q.string();
      if (sig.length > 1024 || !BASE64ISH.test(sig)) q.fail();
      q.expect('}');
      return keyid === undefined ? { sig } : { keyid, sig };
    }, 16) as { keyid?: string; sig: string }[];
    p.expect('}');
    return p.pos === line.length ? { payload, payloadType, signatures } : null;
  } catch (error) {
    if (error === NOT_FAST) return null;
    throw error;
  }
}
