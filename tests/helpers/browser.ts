import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { REPO_ROOT } from './fixtures.js';
import { makeTmpDir } from './tmp-dir.js';

/** Debian's Chromium (`apt-get install chromium`; scripts/test.sh installs it). Never a downloaded browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** Where browser tests save their screenshots (git-ignored): look at them. */
export const SCREENSHOT_DIR = join(REPO_ROOT, 'test-artifacts', 'browser');

/** Why browser tests cannot run here, or undefined. */
export function chromiumSkipReason(): string | undefined {
  return existsSync(CHROMIUM)
    ? undefined
    : `${CHROMIUM} is missing: apt-get install chromium (scripts/test.sh does)`;
}

/**
 * Headless Chromium through playwright-core with a fresh profile. The networking flags keep it
 * from calling home (this machine's closed network refuses those connections, which would fail
 * page loads); `close` also removes the profile.
 */
export async function launchChromium(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const { chromium } = await import('playwright-core');
  const profile = await makeTmpDir('wattledger-chromium-');
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const context = await chromium.launchPersistentContext(profile.dir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      await profile.cleanup();
    },
  };
}
