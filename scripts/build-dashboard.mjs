#!/usr/bin/env node
// Builds the dashboard into dist/src/dashboard/ (served by the daemon, shipped in the package):
// the browser scripts bundled by esbuild (the verifier library, tweetnacl and zod included: no
// CDN, nothing fetched at run time), and the pages and style sheet copied as they are.
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'dashboard');
const out = join(root, 'dist', 'src', 'dashboard');
await mkdir(out, { recursive: true });
await build({
  entryPoints: ['dashboard', 'receipt', 'meter'].map((name) => join(source, 'browser', `${name}.ts`)),
  outdir: out,
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  minify: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
for (const file of ['index.html', 'receipt.html', 'dashboard.css'])
  await copyFile(join(source, file), join(out, file));
