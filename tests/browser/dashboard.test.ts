/**
 * The dashboard, the meter and the receipt page in a real browser (Debian's Chromium through
 * playwright-core) against a running `wattledger demo` (issue 14): live values change; a meter
 * dropped beside a real answer shows the numbers of its sealed record; that answer's receipt
 * verifies in the page and a tampered copy fails, check by check. Screenshots go to
 * test-artifacts/browser/.
 */
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chromiumSkipReason, launchChromium, SCREENSHOT_DIR } from '../helpers/browser.js';
import { cliSkipReason } from '../helpers/cli.js';
import { eventually, type RunningDemo, startDemo } from '../helpers/demo.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

let cleanup: () => Promise<void>;
let demo: RunningDemo;
let browser: { context: BrowserContext; close: () => Promise<void> };
/** A request this test sent through the proxy, and its stored record once sealed. */
let answer: { requestId: string; record: Record<string, unknown> };

/** Sends one short chat through the demo's proxy; returns the request id the proxy gave it. */
async function ask(): Promise<string> {
  const response = await fetch(`${demo.proxyUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'qwen2.5-1.5b-instruct',
      messages: [{ role: 'user', content: 'how much energy does this answer take' }],
      max_tokens: 40,
      stream: true,
    }),
  });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect(text).toContain('data: [DONE]');
  const id = response.headers.get('x-wattledger-request-id');
  expect(id).toBeTruthy();
  return id as string;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

describeUnless(cliSkipReason() ?? chromiumSkipReason())('the dashboard in Chromium', () => {
  beforeAll(async () => {
    let dir: string;
    ({ dir, cleanup } = await makeTmpDir('wattledger-browser-'));
    demo = await startDemo(join(dir, 'D'), ['--seconds', '150'], 200_000);
    browser = await launchChromium();
    const requestId = await ask();
    // Its receipt exists once its batch is sealed and checkpointed (a few seconds on the demo).
    await eventually(
      async () => ((await fetch(`${demo.apiUrl}/v1/receipts/${requestId}`)).ok ? true : undefined),
      90_000,
      `the receipt of ${requestId}`,
    );
    const line = (await (await fetch(`${demo.apiUrl}/v1/records/${requestId}`)).json()) as {
      record: Record<string, unknown>;
    };
    answer = { requestId, record: line.record };
  }, 150_000);
  afterAll(async () => {
    await browser?.close();
    demo?.child.kill('SIGINT');
    await demo?.done;
    await cleanup?.();
  }, 60_000);

  it('shows live power that changes, per GPU, labelled simulated, and the ledger state', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${demo.apiUrl}/dashboard/`);
    await expect.poll(() => page.locator('.gpu').count(), { timeout: 10_000 }).toBe(8);
    await expect(page.locator('#simulated').isVisible()).resolves.toBe(true);
    const first = await page.locator('#power-total').getAttribute('data-milli-watts');
    await expect
      .poll(() => page.locator('#power-total').getAttribute('data-milli-watts'), { timeout: 15_000 })
      .not.toBe(first);
    await expect
      .poll(() => page.locator('#ledger-batch').textContent(), { timeout: 10_000 })
      .toMatch(/^#\d+/);
    await expect
      .poll(() => page.locator('#per-request .bar').count(), { timeout: 15_000 })
      .toBeGreaterThan(0);
    await expect
      .poll(() => page.locator('#ledger-verified').textContent(), { timeout: 30_000 })
      .toContain('verified in this browser');
    await expect
      .poll(() => page.locator('#recent wattledger-meter').count(), { timeout: 10_000 })
      .toBeGreaterThan(0);
    await shot(page, 'dashboard');
    expect(errors).toEqual([]);
  }, 90_000);

  it("puts a meter beside an answer that shows its sealed record's numbers", async () => {
    const page = await browser.context.newPage();
    await page.goto(`${demo.apiUrl}/dashboard/`);
    // What a chat product does: drop the element beside its answer, pointing at the answer's meter.
    await page.evaluate(
      `(() => {
      const box = document.createElement('section');
      box.className = 'card wide';
      box.id = 'answer';
      const text = document.createElement('p');
      text.textContent = 'Answer: (the model reply would be here)';
      const meter = document.createElement('wattledger-meter');
      meter.setAttribute('src', '/v1/dashboard/meter/' + ${JSON.stringify('__ID__')});
      box.append(text, meter);
      document.querySelector('main').prepend(box);
    })()`.replace('__ID__', answer.requestId),
    );
    const meter = page.locator('#answer wattledger-meter');
    const energy = meter.locator('.e');
    await expect.poll(() => energy.getAttribute('data-micro-joules'), { timeout: 10_000 }).toMatch(/^\d+$/);
    const comprehensive = answer.record.comprehensive as Record<string, string>;
    expect(await energy.getAttribute('data-micro-joules')).toBe(comprehensive.facilityEnergyMicroJoules);
    const tokens = await meter.locator('[data-field="tokens"]').textContent();
    // The meter writes an unknown count as '?', never as a number it does not have.
    const shown = (count: unknown) => (count === null ? '?' : String(count));
    expect(tokens).toContain(
      `${shown(answer.record.inputTokens)} in · ${shown(answer.record.outputTokens)} out`,
    );
    expect(await meter.locator('.badge').textContent()).toBe('SIMULATED');
    expect(await meter.locator('[data-field="grid"]').textContent()).toContain('US-CAL-CISO');
    expect(await meter.locator('[data-field="co2e"]').textContent()).toContain('location-based');
    expect(await meter.locator('[data-field="water"]').textContent()).toContain('off-site');
    const href = await meter.locator('a.verify').getAttribute('href');
    expect(href).toContain(encodeURIComponent(`/v1/receipts/${answer.requestId}`));
    await page.locator('#answer').screenshot({ path: join(SCREENSHOT_DIR, 'meter.png') });
  }, 60_000);

  it('verifies the real receipt in the page, check by check, and fails a tampered one', async () => {
    const page = await browser.context.newPage();
    const requests: string[] = [];
    page.on('request', (request) => requests.push(`${request.method()} ${request.url()}`));
    await page.goto(
      `${demo.apiUrl}/dashboard/receipt.html#receipt=${encodeURIComponent(`/v1/receipts/${answer.requestId}`)}`,
    );
    const verdict = page.locator('#verdict');
    await expect.poll(() => verdict.textContent(), { timeout: 15_000 }).toContain('VERIFIED');
    // Every check the page lists passed, the batch's and the record's physics among them.
    const listed = await page.locator('#checks li').count();
    expect(listed).toBeGreaterThanOrEqual(7);
    expect(await page.locator('#checks li.passed').count()).toBe(listed);
    expect(await page.locator('#checks li[data-check="physics"]').getAttribute('class')).toBe('passed');
    expect(await page.locator('#engine').textContent()).toContain('WebCrypto Ed25519');
    await shot(page, 'receipt-verified');
    // Tamper: one more output token than the signed record says.
    const receipt = JSON.parse(await page.locator('#receipt').inputValue()) as {
      record: { outputTokens: number };
    };
    receipt.record.outputTokens += 1;
    await page.locator('#receipt').fill(JSON.stringify(receipt, null, 2));
    await page.locator('#verify').click();
    await expect.poll(() => verdict.textContent(), { timeout: 10_000 }).toContain('FAILED');
    expect(await page.locator('#checks li[data-check="record"]').getAttribute('class')).toBe('failed');
    expect(await page.locator('#checks li[data-check="signature"]').getAttribute('class')).toBe('passed');
    expect(await page.locator('#checks li[data-check="record"] .finding').textContent()).toContain(
      'VERIFY_INCLUSION_PROOF_INVALID',
    );
    await shot(page, 'receipt-tampered');
    // Nothing was sent anywhere: only GETs to the daemon that served the page.
    expect(requests.every((r) => r.startsWith(`GET ${demo.apiUrl}/`))).toBe(true);
  }, 60_000);
});
