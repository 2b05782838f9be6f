import { receiptCheckOutcomes } from '../../verify/receipt-checks.js';
import { el, grams, int, joules, litres, wattHours } from './format.js';
import { keysFromText, verifyReceiptInBrowser } from './verify-browser.js';

/**
 * The receipt page: paste, drop or link (`#receipt=<url>`) a receipt; it is verified here, in
 * the browser, with the project's verifier library, against the public key in the key box
 * (filled from this daemon's `/v1/keys` when empty: compare it with the key the operator
 * publishes). Nothing is sent anywhere; a linked receipt is only fetched.
 */

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const receiptBox = $<HTMLTextAreaElement>('receipt');
const keyBox = $<HTMLTextAreaElement>('key');

async function defaultKey(): Promise<void> {
  if (keyBox.value.trim() !== '') return;
  try {
    const response = await fetch('/v1/keys');
    if (response.ok) keyBox.value = await response.text();
    $('key-source').textContent =
      "filled from this daemon's /v1/keys: compare it with the key its operator publishes";
  } catch {
    $('key-source').textContent = 'paste the public key of the log';
  }
}

/** How long a linked receipt that is not sealed or checkpointed yet is waited for. */
const LINK_WAIT_MS = 180_000;

async function fromLink(): Promise<void> {
  const link = new URLSearchParams(location.hash.slice(1)).get('receipt');
  if (!link) return;
  const deadline = Date.now() + LINK_WAIT_MS;
  $('status').textContent = `fetching ${link}…`;
  let response = await fetch(link);
  // 409: sealed but no checkpoint covers it yet; 404: not sealed yet. Both come in seconds.
  while ((response.status === 409 || response.status === 404) && Date.now() < deadline) {
    const seconds = Number(response.headers.get('retry-after') ?? '2') || 2;
    const why = response.status === 409 ? 'the checkpoint that covers it' : 'its record to be sealed';
    $('status').textContent = `waiting for ${why}; trying again in ${seconds} s…`;
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    response = await fetch(link);
  }
  if (!response.ok) {
    $('status').textContent =
      `could not fetch the receipt (HTTP ${response.status}): ${await response.text()}`;
    return;
  }
  receiptBox.value = JSON.stringify(await response.json(), null, 2);
  $('status').textContent = `receipt fetched from ${link}`;
  await check();
}

async function check(): Promise<void> {
  const out = $('checks');
  out.replaceChildren();
  let receipt: unknown;
  try {
    receipt = JSON.parse(receiptBox.value);
  } catch {
    receipt = receiptBox.value; // the verifier names the problem
  }
  let keys: ReturnType<typeof keysFromText>;
  try {
    keys = keysFromText(keyBox.value);
  } catch (error) {
    $('verdict').textContent = `No usable public key: ${(error as Error).message}`;
    $('verdict').className = 'verdict bad';
    return;
  }
  const { report, engine } = await verifyReceiptInBrowser(receipt, keys);
  const verdict = $('verdict');
  verdict.className = `verdict ${report.ok ? 'ok' : 'bad'}`;
  verdict.textContent = report.ok
    ? `VERIFIED: request ${report.requestId} is in batch ${report.sequence} of ${report.origin}`
    : `FAILED: this receipt does not verify`;
  $('simulated-note').hidden = !report.simulated;
  $('engine').textContent = `signatures checked with ${engine}, in this browser; nothing was sent anywhere`;
  for (const outcome of receiptCheckOutcomes(report)) {
    const li = el('li', outcome.status);
    li.dataset.check = outcome.id;
    const mark = outcome.status === 'passed' ? '✓' : outcome.status === 'failed' ? '✗' : '–';
    li.append(
      el('span', 'mark', mark),
      el('span', '', `${outcome.words}${outcome.status === 'not-checked' ? ' (not checked)' : ''}`),
    );
    for (const f of outcome.findings) li.append(el('div', 'finding', `${f.code}: ${f.message}`));
    out.append(li);
  }
  showRecord(report.ok ? report.record : null);
}

function showRecord(record: Readonly<Record<string, unknown>> | null): void {
  const box = $('record');
  box.replaceChildren();
  if (record === null) return;
  const c = (record.comprehensive ?? record.activeImpact) as Record<string, string | null> | null;
  const energy = int(c?.facilityEnergyMicroJoules ?? null);
  const rows: [string, string][] = [
    ['model', String(record.model ?? '?')],
    ['tokens', `${record.inputTokens ?? '?'} in, ${record.outputTokens ?? '?'} out`],
    ['energy', energy === null ? 'unknown' : `${wattHours(energy)} (${joules(energy)})`],
    [
      'CO₂e (location)',
      int(c?.co2eLocationMicrograms ?? null) === null
        ? 'unknown'
        : grams(int(c?.co2eLocationMicrograms ?? null) as bigint),
    ],
    [
      'water',
      int(c?.waterMicroliters ?? null) === null
        ? 'unknown'
        : litres(int(c?.waterMicroliters ?? null) as bigint),
    ],
    ['ended', String(record.endedAt ?? '?')],
  ];
  for (const [name, value] of rows) box.append(el('dt', '', name), el('dd', '', value));
}

$('verify').addEventListener('click', () => void check());
const drop = $('drop');
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  const file = event.dataTransfer?.files[0];
  if (file)
    void file.text().then((text) => {
      receiptBox.value = text;
      return check();
    });
});
$<HTMLInputElement>('file').addEventListener('change', (event) => {
  const file = (event.target as HTMLInputElement).files?.[0];
  if (file)
    void file.text().then((text) => {
      receiptBox.value = text;
      return check();
    });
});
window.addEventListener('hashchange', () => void fromLink());
void defaultKey().then(fromLink);
