/**
 * EACCES on energy_uj, for real: root reads a mode-0400 file regardless, so the probe runs in a
 * child process as uid/gid 65534 (nobody). The child is plain JS importing the compiled probe from
 * `dist/` (`npm test` runs `tsc` first), because Node 20 cannot import `.ts` without a loader.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { RAPL_PERMISSION_HINT } from '../../../src/probes/rapl.js';
import { FakeSysfs } from '../../helpers/fake-sysfs.js';
import { describeUnless } from '../../helpers/skip.js';

const NOBODY = 65534;
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const COMPILED_PROBE = join(REPO_ROOT, 'dist', 'src', 'probes', 'rapl.js');
const CHILD_TIMEOUT_MS = 15_000;

const skipReason =
  process.getuid?.() !== 0
    ? 'needs root to spawn a child as uid 65534 (and a non-root runner cannot make a file it cannot read)'
    : !existsSync(COMPILED_PROBE)
      ? `${COMPILED_PROBE} is missing; run \`npm run build\` (npm test does) first`
      : undefined;

/** Opens the probe, reads once, prints what happened as JSON. Runs as nobody. */
const CHILD_SCRIPT = `
const [probeUrl, sysfsRoot] = process.argv.slice(2);
const { RaplProbe } = await import(probeUrl);
const clock = { monoNanos: () => process.hrtime.bigint(), wallUnixNanos: () => 0n };
const probe = new RaplProbe({ sysfsRoot, clock });
const describe = (e) => ({ code: e.code, message: e.message, hint: e.hint });
const out = { uid: process.getuid() };
try {
  const inventory = await probe.open();
  out.notes = inventory.notes;
  const results = await probe.read(new AbortController().signal);
  out.results = results.map((r) =>
    r.ok ? { id: r.deviceId, energy: String(r.reading.energyCounterMicroJoules) } : { id: r.deviceId, ...describe(r.error) });
} catch (error) {
  out.error = describe(error);
}
await probe.close();
process.stdout.write(JSON.stringify(out));
`;

interface ChildReport {
  uid: number;
  notes?: string[];
  results?: { id: string; energy?: string; code?: string; message?: string; hint?: string }[];
  error?: { code: string; message: string; hint?: string };
}

const trees: FakeSysfs[] = [];
afterEach(async () => {
  await Promise.all(trees.splice(0).map((tree) => tree.cleanup()));
});

/** Runs the probe as nobody against `tree` (whose dirs are 0755, so nobody can traverse them). */
async function runProbeAsNobody(tree: FakeSysfs): Promise<ChildReport> {
  const scriptPath = join(tree.root, '..', 'open-probe.mjs');
  await writeFile(scriptPath, CHILD_SCRIPT, { mode: 0o644 });
  const args = [scriptPath, pathToFileURL(COMPILED_PROBE).href, tree.root];
  const child = spawn(process.execPath, args, {
    uid: NOBODY,
    gid: NOBODY,
    cwd: tree.root,
    timeout: CHILD_TIMEOUT_MS,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exitCode = await new Promise<number | null>((done, fail) => {
    child.on('error', fail);
    child.on('close', done);
  });
  if (exitCode !== 0) throw new Error(`child exited with ${exitCode}: ${stderr}`);
  return JSON.parse(stdout) as ChildReport;
}

describeUnless(skipReason)('RaplProbe without read access to energy_uj', () => {
  it('throws PROBE_PERMISSION_DENIED naming the file and how to grant access when no zone is readable', async () => {
    const tree = await FakeSysfs.fromFixture('procfs-testdata-intel-rapl');
    trees.push(tree);
    // What kernels >= 5.10 do: energy_uj is 0400 root:root, every other file stays world-readable.
    await tree.chmodFile('intel-rapl:0', 'energy_uj', 0o400);
    const report = await runProbeAsNobody(tree);
    expect(report.uid).toBe(NOBODY);
    expect(report.error).toEqual({
      code: 'PROBE_PERMISSION_DENIED',
      message: `cannot read ${tree.filePath('intel-rapl:0', 'energy_uj')}: permission denied`,
      hint: RAPL_PERMISSION_HINT,
    });
    expect(report.error?.hint).toContain('chgrp powercap');
    expect(report.error?.hint).toContain('chmod g+r');
    expect(report.error?.hint).toContain('cve-2020-8694');
  });

  it('opens with a note and fails only the unreadable zone when other zones are readable', async () => {
    const tree = await FakeSysfs.twoSocketServer();
    trees.push(tree);
    await tree.chmodFile('intel-rapl:1', 'energy_uj', 0o400);
    const report = await runProbeAsNobody(tree);
    const path = tree.filePath('intel-rapl:1', 'energy_uj');
    expect(report.notes).toContain(
      `cannot read ${path}: permission denied; reads of that zone fail until this is fixed`,
    );
    expect(report.results?.map((r) => [r.id, r.energy ?? r.code])).toEqual([
      ['rapl:package-0', '100000000'],
      ['rapl:package-0/dram', '20000000'],
      ['rapl:package-1', 'PROBE_PERMISSION_DENIED'],
      ['rapl:package-1/dram', '21000000'],
      ['rapl:psys', '400000000'],
    ]);
  });
});
