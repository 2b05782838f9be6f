import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSigningKey } from '../src/keys/key-file.js';
import { DAY_BATCH_INTERVAL_MS, DAY_BATCHES, writeDayLedger } from './lib/day-ledger.js';
import { type BenchResult, REPO_ROOT } from './lib/report.js';

/**
 * The `startup` group: how long `wattledger run` takes from spawn to `DAEMON_RUNNING` (ledger
 * open, chain resumed, API index built and listening, meter started) on a ledger of a day of
 * 10-s batches (8,640, the default interval, 8 simulated GPUs), and how many bytes the process
 * read meanwhile (`rchar` of /proc/<pid>/io). The same daemon on an empty ledger is the baseline
 * (Node, modules, config), so `ledger-bytes-read` is what the ledger cost: about once its size
 * when start-up reads it in one pass.
 */

const MAIN = join(REPO_ROOT, 'dist', 'src', 'main.js');
const ORIGIN = 'wattledger/bench-startup';
const _GPU_COUNT = 8;
const RUNS = 3;

type Log = (line: string) => void;

export async function benchStartupCost(_seconds: number, log: Log): Promise<BenchResult[]> {
  const tmpfs = existsSync('/dev/shm');
  const work = await mkdtemp(join(tmpfs ? '/dev/shm' : tmpdir(), 'wattledger-bench-startup-'));
  try {
    const key = join(work, 'signing.key');
    execFileSync(process.execPath, [MAIN, 'keygen', '--out', key, '--name', ORIGIN], { stdio: 'ignore' });
    const config = join(work, 'config.json');
    await writeFile(config, JSON.stringify({ ledger: { origin: ORIGIN } }));
    const day = join(work, 'day');
    log(`startup: writing a day of ${DAY_BATCH_INTERVAL_MS / 1000}-s batches (${DAY_BATCHES})`);
    const t0 = performance.now();
    const signing = await loadSigningKey({ path: key, name: ORIGIN });
    const { bytes } = await writeDayLedger(day, {
      signer: signing.signer,
      noteSigner: signing.noteSigner,
      origin: ORIGIN,
    });
    log(
      `startup: wrote ${DAY_BATCHES} batches (${(bytes / 1048576).toFixed(0)} MiB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const empty = await startups(join(work, 'empty'), key, config, log);
    const full = await startups(day, key, config, log);
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const baseline = median(empty.map((r) => r.readBytes));
    const readBytes = median(full.map((r) => r.readBytes)) - baseline;
    const scenario = 'startup-day-10s-batches';
    return [
      {
        scenario,
        metric: 'ledger-size',
        value: bytes / 1048576,
        unit: 'MiB',
        note: `${DAY_BATCHES} batches, 8 simulated GPUs, on ${tmpfs ? 'tmpfs' : 'disk'} (page cache warm); median of ${RUNS} starts each`,
      },
      { scenario, metric: 'time-to-running-empty', value: median(empty.map((r) => r.seconds)), unit: 's' },
      { scenario, metric: 'time-to-running', value: median(full.map((r) => r.seconds)), unit: 's' },
      {
        scenario,
        metric: 'ledger-bytes-read',
        value: readBytes / 1048576,
        unit: 'MiB',
        goal: '≤ 1.1 × ledger size (one pass)',
        pass: readBytes <= bytes * 1.1,
        note: 'rchar at DAEMON_RUNNING less the empty-ledger start',
      },
      { scenario, metric: 'ledger-passes', value: readBytes / bytes, unit: '× size' },
    ];
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

interface Startup {
  readonly seconds: number;
  readonly readBytes: number;
}

async function startups(ledger: string, key: string, config: string, log: Log): Promise<Startup[]> {
  const results: Startup[] = [];
  for (let run = 0; run < RUNS; run++) {
    const result = await startOnce(ledger, key, config);
    log(
      `startup: ${ledger.endsWith('empty') ? 'empty ledger' : 'day ledger'} ready in ${result.seconds.toFixed(2)} s, ${(result.readBytes / 1048576).toFixed(1)} MiB read`,
    );
    results.push(result);
  }
  return results;
}

/** Spawns the daemon, waits for DAEMON_RUNNING, reads its rchar, stops it. */
async function startOnce(ledger: string, key: string, config: string): Promise<Startup> {
  const args = [
    ...[MAIN, 'run', '--simulate', '--rapl', 'off', '--config', config, '--ledger-dir', ledger],
    ...['--signing-key', key, '--api-listen', '127.0.0.1:0', '--log-level', 'info'],
  ];
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      let text = '';
      child.once('exit', (code) =>
        reject(new Error(`the daemon exited with ${code} before running: ${text}`)),
      );
      child.stderr?.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        if (text.includes('"DAEMON_RUNNING"')) resolve();
      });
    });
    const seconds = (performance.now() - t0) / 1000;
    return { seconds, readBytes: rchar(child.pid!) };
  } finally {
    await stopChild(child);
  }
}

function rchar(pid: number): number {
  const line = readFileSync(`/proc/${pid}/io`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('rchar:'));
  return Number(line?.split(/\s+/)[1] ?? Number.NaN);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
