/**
 * Keeps docs/REPORT.md true: its example is what `wattledger report` prints for the fixture ledger
 * (regenerate with WATTLEDGER_UPDATE_EXAMPLES=1), and every member of the report's JSON schema is
 * named in the document.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORT_SCHEMAS } from '../../../src/api/openapi-report-schemas.js';
import { buildReport } from '../../../src/report/build-report.js';
import { renderReportText } from '../../../src/report/render-text.js';
import { parseTimeWindow } from '../../../src/report/time-window.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';
import { writeReportLedger } from './report-fixture.js';

const DOC = fileURLToPath(new URL('../../../docs/REPORT.md', import.meta.url));
const UPDATE = process.env.WATTLEDGER_UPDATE_EXAMPLES === '1';
const MARKER = /<!-- report-example: --from (\S+) --to (\S+) -->\n```text\n([\s\S]*?)```/;

let ledger: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  let root: string;
  ({ dir: root, cleanup } = await makeTmpDir('wattledger-report-doc-'));
  ledger = join(root, 'ledger');
  await writeReportLedger(ledger);
});
afterAll(async () => {
  await cleanup();
});

describe('docs/REPORT.md', () => {
  it('shows exactly what the report prints for its example window', async () => {
    const doc = await readFile(DOC, 'utf8');
    const match = MARKER.exec(doc);
    expect(match, 'the example marker').not.toBeNull();
    const [, from, to, shown] = match!;
    const window = parseTimeWindow(from, to, 0n);
    const text = renderReportText(
      await buildReport({ ledgerDir: ledger, window }),
      '/var/lib/wattledger/ledger',
    );
    if (UPDATE) {
      const block = match![0].replace(shown!, text);
      await writeFile(DOC, doc.replace(match![0], block));
      return;
    }
    expect(shown, 'regenerate with WATTLEDGER_UPDATE_EXAMPLES=1').toBe(text);
  });

  it('names every member of the JSON report', async () => {
    const doc = await readFile(DOC, 'utf8');
    const names = new Set<string>();
    const walk = (schema: unknown): void => {
      if (typeof schema !== 'object' || schema === null) return;
      const properties = (schema as { properties?: Record<string, unknown> }).properties ?? {};
      for (const [name, sub] of Object.entries(properties)) {
        names.add(name);
        walk(sub);
      }
      for (const value of Object.values(schema)) if (typeof value === 'object') walk(value);
    };
    walk(REPORT_SCHEMAS);
    expect(names.size).toBeGreaterThan(40);
    const missing = [...names].filter((name) => !doc.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});
