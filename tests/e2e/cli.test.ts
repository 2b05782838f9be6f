import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, expect, it } from 'vitest';
import {
  CLI,
  cliSkipReason,
  collect,
  parseLogLines,
  runCli,
  startCli,
  waitForStderr,
} from '../helpers/cli.js';
import { buildFakeNvml, FakeNvmlState, fakeNvmlSkipReason } from '../helpers/fake-nvml.js';
import { FakeSysfs } from '../helpers/fake-sysfs.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const skip = cliSkipReason() ?? fakeNvmlSkipReason();
const ENERGY_CALL = 'nvmlDeviceGetFieldValues'; // one call per tick reads the energy counter

describeUnless(skip)('wattledger CLI', () => {
  let library: string;
  const cleanups: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    library = await buildFakeNvml();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  async function fakes(gpus = 2) {
    const state = await FakeNvmlState.create(gpus);
    const sysfs = await FakeSysfs.fromFixture('kepler-testdata-intel-rapl-with-mmio');
    cleanups.push(
      () => state.cleanup(),
      () => sysfs.cleanup(),
    );
    const args = [
      '--nvml-library',
      library,
      '--sysfs-root',
      sysfs.root,
      '--nvidia-smi',
      '/nonexistent/nvidia-smi',
    ];
    return { state, sysfs, args, env: { FAKE_NVML_DIR: state.dir } };
  }

  it('prints its version and help for every command', async () => {
    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    for (const command of ['run', 'probe', 'watch', 'keygen']) {
      const help = await runCli([command, '--help']);
      expect(help.code, command).toBe(0);
      expect(help.stdout).toContain(`Usage: wattledger ${command}`);
      if (command !== 'keygen') expect(help.stdout).toContain('--sysfs-root');
    }
  });

  it('explains itself and exits 1 with a hint on a host without a GPU', async () => {
    const tmp = await makeTmpDir();
    cleanups.push(tmp.cleanup);
    const result = await runCli([
      'probe',
      '--nvml-library',
      join(tmp.dir, 'none.so'),
      '--nvidia-smi',
      join(tmp.dir, 'none'),
      '--sysfs-root',
      tmp.dir,
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/nvml\s+gpu\s+failed: PROBE_UNAVAILABLE/);
    expect(result.stdout).toMatch(/nvidia-smi\s+gpu\s+failed: PROBE_UNAVAILABLE/);
    expect(result.stderr).toContain('CLI_NO_DEVICES: no GPU found on this host');
    expect(result.stderr).toContain('hint:');
  });

  it('lists the fake GPUs and RAPL zones, with the mmio duplicate skipped', async () => {
    const { args, env } = await fakes(2);
    const result = await runCli(['probe', ...args, '--json', '--sample-ms', '200'], { env });
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as {
      gpuCount: number;
      attempts: { kind: string; outcome: string }[];
      probes: { kind: string; notes: string[]; devices: { id: string }[] }[];
      readings: { deviceId: string; energyMicroJoules: string | null }[];
      host: { hostId: string };
    };
    expect(report.gpuCount).toBe(2);
    expect(report.attempts.map((a) => [a.kind, a.outcome])).toEqual([
      ['nvml', 'used'],
      ['nvidia-smi', 'not-tried'],
      ['rapl', 'used'],
    ]);
    const rapl = report.probes.find((p) => p.kind === 'rapl');
    expect(rapl?.devices.map((d) => d.id)).toEqual(['rapl:package-0']);
    expect(rapl?.notes.join('\n')).toContain('intel-rapl-mmio:0');
    expect(report.readings).toHaveLength(3);
    expect(report.host.hostId.length).toBeGreaterThan(0);
  });

  it('runs the daemon, logs JSON lines, and stops cleanly on SIGTERM with its totals', async () => {
    const { args, env, state } = await fakes(1);
    await state.enableTrace();
    const child = startCli(['run', ...args, '--gpu-interval-ms', '50', '--no-ledger', '--no-api'], env);
    const done = collect(child, 20_000);
    await waitForStderr(child, (text) => text.includes('DAEMON_RUNNING'));
    await state.waitForCalls(ENERGY_CALL, 0); // the baseline reading is taken
    for (let i = 1; i <= 5; i++) {
      await state.setEnergyMilliJoules(0, 1_000_000 + i * 100);
      // A read that began before the write may still return the old value; the second one cannot.
      await state.waitForCalls(ENERGY_CALL, 0, 2);
    }
    child.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(0);
    const logs = parseLogLines(result.stderr);
    expect(
      logs.every(
        (l) => typeof l.level === 'string' && typeof l.time === 'string' && typeof l.msg === 'string',
      ),
    ).toBe(true);
    const stopped = logs.filter((l) => l.code === 'DAEMON_STOPPED');
    const gpu = stopped.find((l) => String(l.deviceId).startsWith('GPU-'));
    // The counter advanced 500 mJ over the run; the daemon saw all of it.
    expect(gpu?.energyMicroJoules).toBe('500000');
    expect(stopped.some((l) => l.deviceId === 'rapl:package-0')).toBe(true);
  });

  it('lists every configuration problem at once and exits 2', async () => {
    const tmp = await makeTmpDir();
    cleanups.push(tmp.cleanup);
    const file = join(tmp.dir, 'bad.yaml');
    await writeFile(file, 'probes:\n  gpu: cuda\nmeter:\n  gpuIntervalMs: 1\n');
    const result = await runCli(['run', '--config', file], { env: { WATTLEDGER_LOG_LEVEL: 'loud' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid configuration (3 problems)');
    expect(result.stderr).toContain(`probes.gpu (from ${file})`);
    expect(result.stderr).toContain('log.level (from environment)');
  });

  it('refuses bad arguments with exit 2', async () => {
    const result = await runCli(['probe', '--sample-ms', 'soon']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('expected a positive integer');
  });

  it('watches simulated GPUs, says they are simulated, and stops after --frames', async () => {
    const result = await runCli([
      'watch',
      '--simulate',
      '--rapl',
      'off',
      '--refresh-ms',
      '200',
      '--frames',
      '2',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.match(/SIMULATED GPUs/g)).toHaveLength(2);
    expect(result.stdout).toContain('measured since start:');
    expect(CLI).toContain('dist');
  });

  it('falls back to simulated GPUs only when asked, and says why', async () => {
    const tmp = await makeTmpDir();
    cleanups.push(tmp.cleanup);
    const result = await runCli([
      'watch',
      '--simulate-if-no-gpu',
      '--nvml-library',
      join(tmp.dir, 'none.so'),
      '--nvidia-smi',
      join(tmp.dir, 'none'),
      '--rapl',
      'off',
      '--refresh-ms',
      '100',
      '--frames',
      '1',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /No GPU found on this host \(nvml: PROBE_UNAVAILABLE .*\)\. Running on SIMULATED GPUs instead\./,
    );
  });
});
