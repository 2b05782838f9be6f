import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { CLI, collect, makeSigningKey, runCli } from '../helpers/cli.js';
import { fakeNvidiaSmi } from '../helpers/fake-nvidia-smi.js';
import { buildFakeNvml, FakeNvmlState, fakeNvmlSkipReason, findCCompiler } from '../helpers/fake-nvml.js';
import { FakeSysfs } from '../helpers/fake-sysfs.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

// systemd/wattledger.service restricts system calls to `@system-service` minus `@privileged` and
// `@resources`, denied calls failing with EPERM. Without a running systemd, the same filter is
// applied here with libseccomp: the allow-list is computed from the unit's own SystemCallFilter=
// lines and systemd-analyze's definition of each set, then the CLI runs under it with the fake
// NVML library, the fake nvidia-smi and a recorded RAPL tree. NVML, nvidia-smi and RAPL must all
// still work, the daemon must seal a verifiable ledger, and a call the filter denies must fail.
// What the real NVIDIA driver's libraries call is not covered (docs/INSTALL.md says so).

const root = new URL('../../', import.meta.url).pathname;

const LAUNCHER_C = String.raw`
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
/* syscall-filter <allow-list file> <command> [args...]: allow only the listed system calls (names
   unknown on this architecture are skipped, as systemd does), fail every other with EPERM, exec. */
int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: %s <allow-list> <command> [args...]\n", argv[0]); return 2; }
  FILE *list = fopen(argv[1], "r");
  if (!list) { perror(argv[1]); return 2; }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (!ctx) return 2;
  char name[128];
  int allowed = 0;
  while (fscanf(list, "%127s", name) == 1) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) == 0) allowed++;
  }
  fclose(list);
  /* NoNewPrivileges=yes, as in the unit, is what lets an unprivileged process load a filter. */
  if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1) != 0 || seccomp_load(ctx) != 0) {
    fprintf(stderr, "seccomp_load failed\n");
    return 2;
  }
  fprintf(stderr, "syscall-filter: %d system calls allowed\n", allowed);
  execvp(argv[2], argv + 2);
  perror(argv[2]);
  return 127;
}
`;

/** Every set systemd-analyze defines, by name, with its members (calls and nested @sets). */
function syscallSets(): Map<string, string[]> {
  const out = spawnSync('systemd-analyze', ['syscall-filter', '--no-pager'], { encoding: 'utf8' }).stdout;
  const sets = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of out.split('\n')) {
    if (/^@\S+$/.test(line)) {
      current = [];
      sets.set(line, current);
    } else if (/^\s+[@\w]/.test(line) && current && !line.trim().startsWith('#')) current.push(line.trim());
    else if (line.trim() === '') current = undefined;
  }
  return sets;
}

function expand(sets: Map<string, string[]>, item: string, seen = new Set<string>()): string[] {
  if (!item.startsWith('@')) return [item];
  if (seen.has(item)) return [];
  seen.add(item);
  const members = sets.get(item);
  if (members === undefined) throw new Error(`systemd-analyze does not know ${item}`);
  return members.flatMap((member) => expand(sets, member, seen));
}

/** The unit's SystemCallFilter= lines applied in order, as systemd applies them. */
function unitAllowList(): { allowed: Set<string>; denied: Set<string> } {
  const unit = readFileSync(join(root, 'systemd/wattledger.service'), 'utf8');
  const lines = [...unit.matchAll(/^SystemCallFilter=(.*)$/gm)].map((m) => (m[1] as string).trim());
  expect(lines[0]?.startsWith('~'), 'the first SystemCallFilter= is an allow-list').toBe(false);
  const sets = syscallSets();
  const allowed = new Set<string>();
  const denied = new Set<string>();
  for (const line of lines) {
    const deny = line.startsWith('~');
    for (const item of line.replace(/^~/, '').split(/\s+/)) {
      for (const call of expand(sets, item)) {
        if (deny) {
          allowed.delete(call);
          denied.add(call);
        } else allowed.add(call);
      }
    }
  }
  return { allowed, denied };
}

function whyNot(): string | undefined {
  if (spawnSync('sh', ['-c', 'command -v systemd-analyze']).status !== 0)
    return 'systemd-analyze not installed: the unit’s system call filter cannot be expanded';
  if (!existsSync('/usr/include/seccomp.h')) return 'libseccomp-dev not installed: no seccomp launcher';
  return fakeNvmlSkipReason();
}

const skip = whyNot();

describeUnless(skip)('the daemon under the systemd unit’s system call filter', () => {
  let dir = '';
  let cleanup = async () => {};
  let launcher = '';
  let allowList = '';
  let library = '';
  let denied = new Set<string>();
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    ({ dir, cleanup } = await makeTmpDir('wattledger-seccomp-'));
    const source = join(dir, 'syscall-filter.c');
    await writeFile(source, LAUNCHER_C);
    launcher = join(dir, 'syscall-filter');
    const cc = findCCompiler() as string;
    const built = spawnSync(cc, ['-O2', '-o', launcher, source, '-lseccomp'], { encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    const filter = unitAllowList();
    denied = filter.denied;
    allowList = join(dir, 'allow-list');
    await writeFile(allowList, [...filter.allowed].sort().join('\n'));
    library = await buildFakeNvml();
  }, 120_000);
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });
  afterAll(async () => {
    await cleanup();
  });

  const filtered = (args: readonly string[]) => [allowList, process.execPath, CLI, ...args];

  async function fakes() {
    const state = await FakeNvmlState.create(2);
    const sysfs = await FakeSysfs.fromFixture('kepler-testdata-intel-rapl-with-mmio');
    cleanups.push(
      () => state.cleanup(),
      () => sysfs.cleanup(),
    );
    return { state, sysfs, env: { FAKE_NVML_DIR: state.dir } };
  }

  function runFiltered(args: readonly string[], env: Record<string, string>) {
    return spawnSync(launcher, filtered(args), {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      timeout: 60_000,
    });
  }

  it('is the allow-list the unit means: chown, setuid, setpriority and setrlimit out; prlimit64 in', () => {
    const allowed = new Set(readFileSync(allowList, 'utf8').split('\n'));
    for (const call of ['chown', 'fchownat', 'setuid', 'setgroups', 'capset', 'setpriority', 'setrlimit'])
      expect(allowed.has(call), call).toBe(false);
    for (const call of ['read', 'openat', 'ioctl', 'mmap', 'clone3', 'epoll_wait', 'prlimit64', 'socket'])
      expect(allowed.has(call), call).toBe(true);
    expect(denied.has('chown')).toBe(true);
  });

  it('denies what it should: setpriority fails with EPERM inside, works outside', () => {
    const probe =
      "try { require('os').setPriority(0, 1); console.log('allowed') } catch (e) { console.log(e.code) }";
    const inside = spawnSync(launcher, [allowList, process.execPath, '-e', probe], { encoding: 'utf8' });
    expect(inside.stdout.trim(), inside.stderr).toBe('ERR_SYSTEM_ERROR');
    expect(inside.stderr).toMatch(/syscall-filter: \d+ system calls allowed/);
    const outside = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
    expect(outside.stdout.trim()).toBe('allowed');
  });

  it('NVML and RAPL still work: probe finds both GPUs through NVML and reads the RAPL package', async () => {
    const { sysfs, env } = await fakes();
    const result = runFiltered(
      [
        'probe',
        '--json',
        '--sample-ms',
        '200',
        '--nvml-library',
        library,
        '--sysfs-root',
        sysfs.root,
        '--nvidia-smi',
        '/nonexistent',
      ],
      env,
    );
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as {
      gpuCount: number;
      attempts: { kind: string; outcome: string }[];
      readings: { deviceId: string; energyMicroJoules: string | null }[];
    };
    expect(report.gpuCount).toBe(2);
    expect(report.attempts.map((a) => [a.kind, a.outcome])).toContainEqual(['nvml', 'used']);
    expect(report.attempts.map((a) => [a.kind, a.outcome])).toContainEqual(['rapl', 'used']);
    expect(report.readings.every((r) => r.energyMicroJoules !== null)).toBe(true);
  }, 90_000);

  it('nvidia-smi still works: the fallback probe streams the recorded GPUs', async () => {
    const smi = await fakeNvidiaSmi();
    cleanups.push(smi.cleanup);
    const result = runFiltered(
      [
        'probe',
        '--json',
        '--sample-ms',
        '300',
        '--gpu-probe',
        'nvidia-smi',
        '--nvidia-smi',
        smi.nvidiaSmiPath,
        '--rapl',
        'off',
      ],
      { ...smi.env },
    );
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as {
      gpuCount: number;
      attempts: { kind: string; outcome: string }[];
    };
    expect(report.gpuCount).toBeGreaterThan(0);
    expect(report.attempts.map((a) => [a.kind, a.outcome])).toContainEqual(['nvidia-smi', 'used']);
  }, 90_000);

  it('the daemon measures, seals, serves and stops cleanly under the filter, and its ledger verifies', async () => {
    const { sysfs, env } = await fakes();
    const key = await makeSigningKey(dir, 'wattledger/seccomp');
    const ledger = join(dir, 'ledger');
    const child = spawn(
      launcher,
      filtered([
        'run',
        '--nvml-library',
        library,
        '--sysfs-root',
        sysfs.root,
        '--nvidia-smi',
        '/nonexistent',
        '--ledger-dir',
        ledger,
        '--signing-key',
        key,
        '--batch-interval-ms',
        '300',
        '--api-listen',
        '127.0.0.1:0',
      ]),
      {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, WATTLEDGER_LOG_LEVEL: 'debug', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const done = collect(child, 60_000);
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // Three sealed batches: measured, attributed, signed and written under the filter.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no 3 seals:\n${stderr.slice(-3000)}`)), 45_000);
      child.stderr.on('data', () => {
        if ((stderr.match(/"code":"LEDGER_SEALED"/g) ?? []).length >= 3) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill('SIGTERM');
    const result = await done;
    expect(result.code, stderr.slice(-3000)).toBe(0);
    expect(stderr).toMatch(/syscall-filter: \d+ system calls allowed/);
    expect(stderr).not.toMatch(/EPERM/);
    const verified = await runCli(['verify', ledger, '--key', `${key}.pub`]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  }, 90_000);
});
