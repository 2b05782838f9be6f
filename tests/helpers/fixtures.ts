import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository's own root: the nearest folder above this file whose `package.json` is this
 * project's. Works from `tests/helpers/` (vitest) and from `dist/tests/helpers/` (the bench), and
 * never looks past the repository, so nothing beside the clone can change what a test reads.
 */
export const REPO_ROOT = findRepoRoot();

/**
 * Absolute path (with a trailing slash) of the recorded fixtures inside the repository,
 * `tests/fixtures/`. `tests/fixtures/SOURCES.md` names each file's origin and licence.
 */
export const FIXTURES = `${join(REPO_ROOT, 'tests', 'fixtures')}/`;

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && isThisProject(manifest)) return dir;
    dir = dirname(dir);
  }
  throw new Error(`cannot find wattledger's package.json above ${fileURLToPath(import.meta.url)}`);
}

function isThisProject(manifest: string): boolean {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'wattledger';
  } catch {
    return false;
  }
}
