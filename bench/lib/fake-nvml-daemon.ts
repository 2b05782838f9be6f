import { join } from 'node:path';
import { FAKE_NVML_FAST_ENV } from '../../tests/helpers/fake-nvml.js';
import { REPO_ROOT } from './report.js';

/** The built CLI the benches spawn. */
export const MAIN = join(REPO_ROOT, 'dist', 'src', 'main.js');

/**
 * The arguments of `wattledger run` on the fake NVML library (GPUs at 10 Hz) and a fake RAPL sysfs
 * tree (1 Hz), logging warnings only; `extra` follows (ledger, export flags).
 */
export function fakeNvmlDaemonArgs(library: string, sysfsRoot: string, extra: readonly string[]): string[] {
  return [
    MAIN,
    'run',
    '--gpu-probe',
    'nvml',
    '--nvml-library',
    library,
    '--sysfs-root',
    sysfsRoot,
    '--rapl',
    'on',
    '--gpu-interval-ms',
    '100',
    '--log-level',
    'warn',
    ...extra,
  ];
}

/**
 * The environment of such a daemon. Fast mode: the fake skips its trace, delay and fault-injection
 * files, whose reads on every call would otherwise dominate the daemon's CPU time and measure the
 * fake, not wattledger.
 */
export function fakeNvmlDaemonEnv(stateDir: string): NodeJS.ProcessEnv {
  return { ...process.env, ...FAKE_NVML_FAST_ENV, FAKE_NVML_DIR: stateDir };
}
