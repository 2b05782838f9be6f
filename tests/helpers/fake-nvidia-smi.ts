import { writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { FIXTURES } from './fixtures.js';
import { makeTmpDir } from './tmp-dir.js';

/**
 * Recordings of real GPUs (idle + load `--query-gpu` rows) copied from
 * `tests/fixtures/nvidia-smi-csv` into `tests/fixtures/nvidia-smi/<name>.json`; each file's
 * `source` field cites its SOURCES.md entry.
 */
export type SmiRecording = 'h200' | 'h100' | 'h100-mig' | 'l40s';

/** The real `nvidia-smi -q -x` fixtures in `tests/fixtures/nvidia-smi-xml` (SOURCES.md). */
export const SMI_XML_FIXTURES = {
  gt1030PowerNa: 'gt-1030_470.74_dtd-v11_power-na.xml',
  blackwell: 'rtx-pro-6000-maxq-blackwell_590.44.01_dtd-v13.xml',
  a100Mig: 'a100-sxm4-80gb_mig-enabled_535.54.03_dtd-v12.xml',
  teslaT4: 'tesla-t4_515.105.01_dtd-v11.xml',
  a10g: 'a10g_515.105.01_dtd-v11.xml',
  dualA5000: '2x-rtx-a5000_590.44.01_dtd-v13.xml',
  rtx3060: 'rtx-3060_570.124.04_dtd-v12_avg-instant.xml',
  rtx4000Ada: 'rtx-4000-sff-ada_595.84_dtd-v13.xml',
} as const;

/** What the fake does; every field is documented at the top of `fake-nvidia-smi`. */
export interface FakeSmiScenario {
  /** XML fixture for `-q -x` (a file name in tests/fixtures/nvidia-smi-xml, or a path). */
  readonly xml?: string;
  /** Measured columns per GPU (GPU i uses recordings[i % n]); default `['h200']`. */
  readonly recordings?: readonly SmiRecording[];
  readonly phaseTicks?: number;
  readonly loop?: boolean;
  readonly unknownFields?: readonly string[];
  readonly unknownFieldStream?: 'stdout' | 'stderr';
  readonly hangAfterRows?: number;
  readonly exitAfterRows?: number;
  readonly exitCode?: number;
  readonly exitStderr?: string;
  /** Hang/exit/ignoreSigterm apply only to the first N `--query-gpu` runs. */
  readonly misbehaveRuns?: number;
  readonly garbageEvery?: number;
  readonly headerEvery?: number;
  readonly burstRows?: number;
  readonly crlf?: boolean;
  readonly startDelayMs?: number;
  readonly ignoreSigterm?: boolean;
  readonly stderrNoise?: { readonly query?: string; readonly xml?: string };
  readonly failXml?: { readonly code: number; readonly stderr: string };
  /** Time each tick spends before printing (the real tool's query time); its `timestamp` is the tick's start. */
  readonly queryMs?: number;
  /** A random extra 0..jitterMs per tick. */
  readonly jitterMs?: number;
  readonly slowTicks?: { readonly from: number; readonly count: number; readonly extraMs: number };
  /** That GPU's rows stop from row `fromRow` on (counted over all GPUs). */
  readonly dropGpu?: { readonly gpu: number; readonly fromRow: number };
  /** The XML's first GPU repeated N times (distinct UUIDs and bus ids): a large node. */
  readonly xmlGpuCount?: number;
  /** `-q -x` hangs after half the document; `childPidFile` gets the pid of a forked grandchild. */
  readonly hangXml?: { readonly childPidFile?: string };
  readonly cellOverrides?: readonly { field: string; value: string; gpu?: number; fromRow?: number }[];
}

/** A fake nvidia-smi ready to run: pass `nvidiaSmiPath` and `env` to the probe or the stream. */
export interface FakeSmi {
  readonly nvidiaSmiPath: string;
  readonly env: Readonly<Record<string, string>>;
  readonly scenarioPath: string;
  readonly cleanup: () => Promise<void>;
}

const FIXTURE_DIR = join(FIXTURES, 'nvidia-smi');

/** Absolute path of the fake executable (`#!/usr/bin/env node`, no build step). */
export const FAKE_NVIDIA_SMI = join(FIXTURE_DIR, 'fake-nvidia-smi');

/** Absolute path of a recording JSON file. */
export function smiRecordingPath(name: SmiRecording): string {
  return join(FIXTURE_DIR, `${name}.json`);
}

/** Absolute path of a recorded XML fixture given its file name (or a path, returned as is). */
export function smiXmlPath(xml: string): string {
  return isAbsolute(xml) ? xml : `${FIXTURES}nvidia-smi-xml/${xml}`;
}

/**
 * Writes `scenario` into a fresh temporary directory and returns the fake's path and the env
 * (`FAKE_SMI_SCENARIO`) to run it with. Call `cleanup()` after the test. Tests pass `env` through
 * the probe's `env` option so no test mutates `process.env`.
 */
export async function fakeNvidiaSmi(scenario: FakeSmiScenario = {}): Promise<FakeSmi> {
  const tmp = await makeTmpDir('wattledger-fake-smi-');
  const scenarioPath = join(tmp.dir, 'scenario.json');
  const resolved = {
    ...scenario,
    xml: smiXmlPath(scenario.xml ?? SMI_XML_FIXTURES.rtx4000Ada),
    recordings: (scenario.recordings ?? ['h200']).map(smiRecordingPath),
  };
  await writeFile(scenarioPath, JSON.stringify(resolved, null, 2));
  return {
    nvidiaSmiPath: FAKE_NVIDIA_SMI,
    env: { FAKE_SMI_SCENARIO: scenarioPath },
    scenarioPath,
    cleanup: tmp.cleanup,
  };
}
