import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from '../helpers/fixtures.js';

/**
 * vitest global setup: compiles the project into `dist/` before any test runs, so e2e tests and
 * the tests that spawn compiled modules never run a stale or missing build. `tsc` is incremental
 * (`dist/.tsbuildinfo`): about 3 s when nothing changed, 10 s from nothing. Runs that start at
 * once (two terminals, two helpers) take turns through a lock folder, so neither reads a half-written
 * file.
 */
export default async function buildOnce(): Promise<void> {
  if (process.env.WATTLEDGER_TEST_NO_BUILD === '1') return;
  const lock = join(REPO_ROOT, 'dist', '.build-lock');
  mkdirSync(join(REPO_ROOT, 'dist'), { recursive: true });
  await takeLock(lock);
  try {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const result = spawnSync(process.execPath, [tsc, '-p', join(REPO_ROOT, 'tsconfig.json')], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    if (result.status !== 0) {
      throw new Error(
        `the build failed (tsc exit ${result.status}); tests would run stale code:\n${result.stdout}${result.stderr}`,
      );
    }
    // The dashboard's browser bundle (esbuild, well under a second), served by the daemon.
    const bundle = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-dashboard.mjs')], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    if (bundle.status !== 0)
      throw new Error(`the dashboard bundle failed:\n${bundle.stdout}${bundle.stderr}`);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** A lock older than this is left over from a killed run and is taken over. */
const STALE_LOCK_MS = 120_000;

async function takeLock(lock: string): Promise<void> {
  for (;;) {
    try {
      mkdirSync(lock);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (lockAgeMs(lock) > STALE_LOCK_MS) rmSync(lock, { recursive: true, force: true });
      else await sleep(200);
    }
  }
}

function lockAgeMs(lock: string): number {
  try {
    return Date.now() - statSync(lock).mtimeMs;
  } catch {
    return 0;
  }
}
