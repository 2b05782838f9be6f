import { beforeAll, describe, expect, it } from 'vitest';
import { BATCH_PAYLOAD_TYPE } from '../../../src/attest/batch-format.js';
import { canonicalBytes, canonicalString } from '../../../src/attest/canonical.js';
import { signDsse } from '../../../src/attest/dsse.js';
import { devicesDigestHex } from '../../../src/ledger/batch-builder.js';
import { ledgerLines, testSigner, verifyLines, writeLedger } from '../../helpers/ledger-fixture.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

// Unmeasured is a state, not a number: the verifier flags a device that claims energy with no time
// covered, and one whose declared state contradicts what it covers, even when re-signed by the
// genuine key and every sum is kept consistent.
let lines: string[];

beforeAll(async () => {
  const { dir, cleanup } = await makeTmpDir();
  await writeLedger(dir, { ticks: 40, batchIntervalMs: 1000 });
  lines = await ledgerLines(dir);
  await cleanup();
});

type Device = Record<string, unknown> & { attribution: Record<string, unknown> };
type Statement = { predicate: { devices: Device[] }; subject: { digest: { sha256: string } }[] };

/** Re-signs an edited statement with the genuine key (an insider rewriting its own numbers). */
function resign(line: string, edit: (device: Device) => void): string {
  const statement = JSON.parse(Buffer.from(JSON.parse(line).payload, 'base64').toString('utf8')) as Statement;
  edit(statement.predicate.devices[0] as Device);
  statement.subject[0]!.digest.sha256 = devicesDigestHex(statement.predicate.devices as never);
  const { signer } = testSigner(1);
  return canonicalString(signDsse(BATCH_PAYLOAD_TYPE, canonicalBytes(statement), [signer]));
}

const checksOf = (edited: string): string[] =>
  verifyLines(lines.map((line, i) => (i === 2 ? edited : line))).findings.map((f) => f.check);

describe('the verifier and unmeasured devices', () => {
  it('accepts the honest ledger', () => {
    expect(verifyLines(lines).findings).toEqual([]);
  });

  it('flags energy claimed with nothing covered', () => {
    const edited = resign(lines[2] as string, (d) => {
      d.coveredNanos = '0';
      d.unmeasuredReason = 'no-data';
    });
    expect(checksOf(edited)).toContain('energy-uncovered');
  });

  it('flags a device declared unmeasured that covers time, and one covering nothing but not declared', () => {
    const declared = resign(lines[2] as string, (d) => {
      d.unmeasuredReason = 'device-lost';
    });
    expect(checksOf(declared)).toContain('unmeasured-state');
    const silent = resign(lines[2] as string, (d) => {
      d.coveredNanos = '0';
      d.energyMicroJoules = '0';
      d.counterEnergyMicroJoules = '0';
      d.counterEndMicroJoules = d.counterStartMicroJoules;
      d.attribution.unattributedMicroJoules = '0';
    });
    expect(checksOf(silent)).toContain('unmeasured-state');
  });
});
