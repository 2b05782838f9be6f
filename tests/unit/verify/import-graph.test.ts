/**
 * The public verifier (`wattledger/verify`, src/verify/index.ts) must run in a browser. Two checks:
 * the static import graph from index.ts reaches no Node built-in, no daemon code and no package
 * other than the pure-JS ones; and the compiled module verifies a real ledger in a Node process
 * whose Node-only globals were removed before it was loaded.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { base64FromBytes } from '../../../src/attest/bytes.js';
import type * as PublicApi from '../../../src/verify/index.js';
import { checkpointNotes, ledgerLines, testSigner, writeLedger } from '../../helpers/ledger-fixture.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ENTRY = 'src/verify/index.ts';
const DIST_ENTRY = join(ROOT, 'dist/src/verify/index.js');
/** Pure-JS packages the verifier may use. */
const ALLOWED_PACKAGES = new Set(['canonicalize', 'tweetnacl', 'zod']);
/** Daemon code: hardware probes, the on-disk ledger, exporters, the CLI. */
const FORBIDDEN_DIRS = ['src/probes/', 'src/ledger/', 'src/export/', 'src/cli/'];
/** `import type` edges to Node built-ins, erased at compile time, allowed one by one. */
const ALLOWED_TYPE_ONLY = new Set(['src/attest/sha256.ts -> node:crypto']);

// `import|export [type] [Default,] ({…} | * [as X] | X) from '…'`, possibly over several lines.
const CLAUSE = String.raw`(?:[\w$]+\s*,\s*)?(?:\{[^}]*\}|\*(?:\s+as\s+[\w$]+)?|[\w$]+)`;
const STATIC = new RegExp(
  String.raw`^[ \t]*(?:import|export)\s+(type\s+)?${CLAUSE}\s+from\s+['"]([^'"]+)['"]`,
  'gm',
);
const SIDE_EFFECT = /^[ \t]*import\s+['"]([^'"]+)['"]/gm;
// Runtime loads that no `from` clause shows; in this graph they count as real imports.
const DYNAMIC = /\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]/g;

interface ImportEdge {
  readonly specifier: string;
  readonly typeOnly: boolean;
}

function parseImports(source: string): ImportEdge[] {
  return [
    ...[...source.matchAll(STATIC)].map((m) => ({ specifier: m[2]!, typeOnly: m[1] !== undefined })),
    ...[...source.matchAll(SIDE_EFFECT)].map((m) => ({ specifier: m[1]!, typeOnly: false })),
    ...[...source.matchAll(DYNAMIC)].map((m) => ({ specifier: m[1]!, typeOnly: false })),
  ];
}

/** `./x.js` imported from `src/a/b.ts` → `src/a/x.ts` (sources use `.js` specifiers). */
function resolveLocal(from: string, specifier: string): string {
  return posix.normalize(posix.join(posix.dirname(from), specifier)).replace(/\.js$/, '.ts');
}

/** Every source file reachable from `entry`, type-only edges included, with its imports. */
function importGraph(entry: string): Map<string, ImportEdge[]> {
  const graph = new Map<string, ImportEdge[]>();
  const queue = [entry];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (graph.has(file) || !existsSync(join(ROOT, file))) continue;
    const imports = parseImports(readFileSync(join(ROOT, file), 'utf8'));
    graph.set(file, imports);
    for (const { specifier } of imports)
      if (specifier.startsWith('.')) queue.push(resolveLocal(file, specifier));
  }
  return graph;
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

/** Why an import edge is not allowed in the browser verifier, or null. */
function violation(file: string, edge: ImportEdge): string | null {
  const name = `${file} -> ${edge.specifier}`;
  if (edge.specifier.startsWith('.')) {
    const target = resolveLocal(file, edge.specifier);
    if (FORBIDDEN_DIRS.some((dir) => target.startsWith(dir))) return `${name}: daemon code`;
    return existsSync(join(ROOT, target)) ? null : `${name}: does not resolve to ${target}`;
  }
  if (edge.typeOnly && ALLOWED_TYPE_ONLY.has(name)) return null;
  if (edge.specifier.startsWith('node:')) return `${name}: a Node built-in`;
  if (ALLOWED_PACKAGES.has(packageName(edge.specifier))) return null;
  return `${name}: a package not allowed in the browser verifier`;
}

describe('the verifier import graph', () => {
  const graph = importGraph(ENTRY);

  it('reaches only browser-safe modules', () => {
    const problems = [...graph].flatMap(([file, edges]) => edges.map((e) => violation(file, e)));
    expect(problems.filter((p) => p !== null)).toEqual([]);
  });

  it('walks the real graph (the parser is not silently matching nothing)', () => {
    for (const file of [
      'src/verify/verifier.ts',
      'src/keys/trusted-keys.ts',
      'src/attest/batch-format.ts',
      'src/attest/sha256.ts',
      'src/attest/ed25519.ts',
    ])
      expect(graph.has(file), file).toBe(true);
    expect(graph.has('src/attest/ed25519-node.ts')).toBe(false);
  });

  it('sees sha256.ts reference node:crypto only as a type (getBuiltinModule is a runtime probe)', () => {
    const edges = graph.get('src/attest/sha256.ts') ?? [];
    expect(edges).toEqual([{ specifier: 'node:crypto', typeOnly: true }]);
  });

  it.each([
    ["import { readFile } from 'node:fs/promises';", 'a Node built-in'],
    ["import type { Stats } from 'node:fs';", 'a Node built-in'],
    ["import {\n  a,\n  b,\n} from '../ledger/reader.js';", 'daemon code'],
    ["export * from '../probes/nvml.js';", 'daemon code'],
    ["import { x } from '../cli/verify.js';", 'daemon code'],
    ["import { y } from '../export/otlp.js';", 'daemon code'],
    ["import koffi from 'koffi';", 'not allowed'],
    ["import si, { cpu } from 'systeminformation';", 'not allowed'],
    ["import { pino } from 'pino';", 'not allowed'],
    ["import 'fs';", 'not allowed'],
    ["const m = await import('node:crypto');", 'a Node built-in'],
  ])('rejects %j', (source, reason) => {
    const edges = parseImports(source);
    expect(edges).toHaveLength(1);
    expect(violation('src/verify/x.ts', edges[0]!)).toContain(reason);
  });

  it('allows the pure-JS packages and local verifier modules', () => {
    const source =
      "import nacl from 'tweetnacl';\nimport { z } from 'zod';\nexport { a } from './errors.js';";
    expect(parseImports(source).map((e) => violation('src/verify/x.ts', e))).toEqual([null, null, null]);
  });
});

describe('the published entry point', () => {
  it("is package.json exports['./verify'] → dist/src/verify/index.js, built from index.ts", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      exports: Record<string, string>;
    };
    expect(posix.normalize(pkg.exports['./verify'] ?? '')).toBe('dist/src/verify/index.js');
    expect(existsSync(join(ROOT, ENTRY))).toBe(true);
  });

  it('exports the verifier API', async () => {
    const api = await import('../../../src/verify/index.js');
    for (const name of [
      'LedgerVerifier',
      'VerificationError',
      'parseTrustedKeys',
      'trustedKeyFromText',
      'BATCH_PAYLOAD_TYPE',
      'BATCH_PREDICATE_TYPE',
      'STATEMENT_TYPE',
      'BATCH_FORMAT_VERSION',
    ])
      expect(api, name).toHaveProperty(name);
    // Type-only names: checked by tsc when this file compiles.
    const types: [
      PublicApi.VerificationReport?,
      PublicApi.LedgerVerifierOptions?,
      PublicApi.Finding?,
      PublicApi.VerificationErrorCode?,
      PublicApi.VerifierKey?,
      PublicApi.BatchStatement?,
    ] = [];
    expect(types).toEqual([]);
  });
});

// Runs in a child `node`: reads its input while it still can, removes what a browser lacks, then
// loads the compiled verifier. Output is one JSON line on stdout.
const BROWSER_LIKE_SCRIPT = `
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const entry = pathToFileURL(process.argv[3]).href;
delete process.getBuiltinModule;
for (const name of ['Buffer', 'require', 'global', 'process']) delete globalThis[name];
const leftovers = ['Buffer', 'require', 'global', 'process'].filter((name) => name in globalThis);
const api = await import(entry);
const { sha256Backend } = await import(new URL('../attest/sha256.js', entry).href);
const verifier = new api.LedgerVerifier({ keys: [api.trustedKeyFromText(input.key)] });
input.checkpoints.forEach((note, i) => verifier.addCheckpoint(note, 'checkpoint#' + i));
input.lines.forEach((line, i) => verifier.addLine(line, 'line ' + (i + 1)));
const report = verifier.finish();
console.log(JSON.stringify({ ...report, sha256Backend, leftovers }));
`;

describe('the compiled verifier in a browser-like runtime', () => {
  it('verifies a real ledger without Buffer, require, process or getBuiltinModule', async ({ skip }) => {
    if (!existsSync(DIST_ENTRY))
      skip(`${DIST_ENTRY} is missing: run \`npm run build\` first (npm test does)`);
    const { dir, cleanup } = await makeTmpDir('wattledger-browser-');
    try {
      await writeLedger(join(dir, 'ledger'), { ticks: 60, checkpointEvery: 2 });
      const lines = await ledgerLines(join(dir, 'ledger'));
      const checkpoints = await checkpointNotes(join(dir, 'ledger'));
      const key = base64FromBytes(testSigner().signer.publicKey);
      await writeFile(join(dir, 'input.json'), JSON.stringify({ key, lines, checkpoints }));
      await writeFile(join(dir, 'browser-like.mjs'), BROWSER_LIKE_SCRIPT);
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [join(dir, 'browser-like.mjs'), join(dir, 'input.json'), DIST_ENTRY],
        { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeout: 30_000 },
      );
      const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
      expect(report).toMatchObject({ ok: true, findings: [], batches: lines.length, leftovers: [] });
      expect(report.checkpointsVerified).toBe(checkpoints.length);
      // Proof that the Node fast path really was out of reach: SHA-256 fell back to pure JS.
      expect(report.sha256Backend).toBe('pure');
    } finally {
      await cleanup();
    }
  });
});
