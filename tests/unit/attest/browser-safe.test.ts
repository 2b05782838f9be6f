import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/*
 * The verifier's primitives must run in a browser: they may import only each other, the
 * project's error base class, and the two pure-JS packages. A type-only import of node:crypto
 * (erased at compile time) is allowed. ed25519-node.ts is the one Node-only file and is imported
 * by none of them.
 */
const BROWSER_SAFE = [
  'bytes',
  'canonical',
  'checkpoint',
  'dsse',
  'ed25519',
  'errors',
  'key-id',
  'merkle',
  'merkle-builder',
  'note',
  'sha256',
];
const ALLOWED_PACKAGES = new Set(['tweetnacl', 'canonicalize']);
const IMPORT = /^import\s+(type\s+)?[^'"]*?from\s+'([^']+)';/gms;

function importsOf(name: string): { specifier: string; typeOnly: boolean }[] {
  const path = fileURLToPath(new URL(`../../../src/attest/${name}.ts`, import.meta.url));
  const source = readFileSync(path, 'utf8');
  return [...source.matchAll(IMPORT)].map((m) => ({ specifier: m[2]!, typeOnly: m[1] !== undefined }));
}

describe('browser-safe attestation modules', () => {
  for (const name of BROWSER_SAFE) {
    it(`${name}.ts imports only browser-safe modules`, () => {
      for (const { specifier, typeOnly } of importsOf(name)) {
        const local = specifier.startsWith('./') && BROWSER_SAFE.includes(specifier.slice(2, -3));
        const ok = local || specifier === '../errors.js' || ALLOWED_PACKAGES.has(specifier) || typeOnly;
        expect(ok, `${name}.ts imports ${specifier}`).toBe(true);
      }
    });
  }

  it('finds the imports it checks (the pattern is not silently matching nothing)', () => {
    expect(importsOf('dsse').map((i) => i.specifier)).toContain('./ed25519.js');
    expect(importsOf('sha256')).toEqual([{ specifier: 'node:crypto', typeOnly: true }]);
    expect(importsOf('ed25519-node').map((i) => i.specifier)).toContain('node:crypto');
  });

  it('keeps src/errors.ts free of imports', () => {
    const source = readFileSync(fileURLToPath(new URL('../../../src/errors.ts', import.meta.url)), 'utf8');
    expect(source).not.toMatch(/^import /m);
  });
});
