import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Makes a fresh temporary directory; returns it and a function that removes it. */
export async function makeTmpDir(
  prefix = 'wattledger-test-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Absolute path (with a trailing slash) of the fixtures recorded on real machines, which live in
 * `../shared/fixtures` beside the repository (see `SOURCES.md` there for each file's origin).
 * Found by walking up from this file, so it works from `tests/` and from `dist/tests/`.
 */
export const SHARED_FIXTURES = findSharedFixtures();

function findSharedFixtures(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    const candidate = join(dir, 'shared', 'fixtures');
    if (existsSync(join(candidate, 'SOURCES.md'))) return `${candidate}/`;
    dir = dirname(dir);
  }
  throw new Error('cannot find ../shared/fixtures beside the repository; tests need the recorded fixtures');
}
