import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built CLI; `npm test` runs `tsc` first. */
export const CLI = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));

/** Why e2e tests cannot run (no build), or undefined. */
export function cliSkipReason(): string | undefined {
  return existsSync(CLI) ? undefined : `${CLI} is missing: run \`npm run build\` first (npm test does)`;
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI to completion with a hard timeout (the child is killed if it outlives it). */
export function runCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  return collect(startCli(args, options.env), options.timeoutMs ?? 20_000);
}

/** Starts the CLI and returns the child, for tests that signal it. */
export function startCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const seen = { stderr: '' };
  stderrSeen.set(child, seen);
  child.stderr?.on('data', (chunk: Buffer) => (seen.stderr += chunk.toString()));
  return child;
}

/** Everything each child started by {@link startCli} has written to stderr so far. */
const stderrSeen = new WeakMap<ChildProcess, { stderr: string }>();

/** Collects a child's output until it exits (killed with SIGKILL after `timeoutMs`). */
export function collect(child: ChildProcess, timeoutMs: number): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Resolves once `predicate` holds for the child's stderr so far (or rejects after `timeoutMs`). */
export function waitForStderr(
  child: ChildProcess,
  predicate: (text: string) => boolean,
  timeoutMs = 10_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for stderr; got:\n${text}`)),
      timeoutMs,
    );
    child.stderr?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (predicate(text)) {
        clearTimeout(timer);
        resolve(text);
      }
    });
  });
}

/**
 * Resolves once `count` more batches have been sealed (`LEDGER_SEALED`, logged at debug level, as
 * {@link startSimulatedDaemon} runs it) than when called, and the batches sealed since the child
 * started hold at least `records` request records. Tests wait on this instead of sleeping: it is
 * the event they need (time measured and signed), whatever the machine's speed.
 */
export async function waitForSeals(
  child: ChildProcess,
  want: { readonly count?: number; readonly records?: number },
  timeoutMs = 15_000,
): Promise<void> {
  const seen = stderrSeen.get(child);
  if (seen === undefined) throw new Error('waitForSeals needs a child started by startCli');
  const seals = () =>
    parseLogLines(completeLines(seen.stderr)).filter((line) => line.code === 'LEDGER_SEALED');
  const target = seals().length + (want.count ?? 0);
  const done = () => {
    const sealed = seals();
    const records = sealed.reduce((sum, line) => sum + Number(line.records ?? 0), 0);
    return sealed.length >= target && records >= (want.records ?? 0);
  };
  if (done()) return;
  await waitForStderr(child, done, timeoutMs);
}

/** The text up to its last newline: the lines a child has finished writing. */
function completeLines(text: string): string {
  return text.slice(0, text.lastIndexOf('\n') + 1);
}

/** Parses JSON-lines logs, skipping lines that are not JSON. */
export function parseLogLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** A signing key made with the real `keygen` in `dir`; returns its path (the public key is `<path>.pub`). */
export async function makeSigningKey(dir: string, name = 'wattledger/e2e'): Promise<string> {
  const key = `${dir}/k.key`;
  const result = await runCli(['keygen', '--out', key, '--name', name]);
  if (result.code !== 0) throw new Error(`keygen failed: ${result.stderr}`);
  return key;
}

/**
 * The daemon on simulated GPUs with a ledger in `dir/ledger`, 300 ms batches, the API on a free
 * loopback port and debug logs; `extraArgs` and `env` add to that. It signs with `key`, or with a
 * fresh key made in `dir` (a restart passes the first run's key). `done` resolves when it exits.
 */
export async function startSimulatedDaemon(
  dir: string,
  extraArgs: readonly string[] = [],
  env: NodeJS.ProcessEnv = {},
  existingKey?: string,
): Promise<{ key: string; ledger: string; daemon: ChildProcess; done: Promise<CliResult> }> {
  const key = existingKey ?? (await makeSigningKey(dir));
  const ledger = `${dir}/ledger`;
  const args = [
    'run',
    '--simulate',
    '--rapl',
    'off',
    '--ledger-dir',
    ledger,
    '--signing-key',
    key,
    '--batch-interval-ms',
    '300',
    '--api-listen',
    '127.0.0.1:0',
  ];
  const daemon = startCli([...args, ...extraArgs], { WATTLEDGER_LOG_LEVEL: 'debug', ...env });
  return { key, ledger, daemon, done: collect(daemon, 30_000) };
}

/**
 * {@link startSimulatedDaemon} with its measuring proxy in front of `upstreamUrl`, on a loopback
 * port the system picks. Resolves once the proxy listens, with its base URL (from
 * `PROXY_LISTENING`) and the start-up log so far.
 */
export async function startProxiedDaemon(
  dir: string,
  upstreamUrl: string,
  extraArgs: readonly string[] = [],
): Promise<Awaited<ReturnType<typeof startSimulatedDaemon>> & { proxyUrl: string; startLog: string }> {
  const started = await startSimulatedDaemon(dir, [
    ...extraArgs,
    '--proxy',
    '--proxy-listen',
    '127.0.0.1:0',
    '--upstream',
    upstreamUrl,
  ]);
  const startLog = await waitForStderr(started.daemon, (text) => text.includes('PROXY_LISTENING'));
  const proxyUrl = /"code":"PROXY_LISTENING".*?"url":"([^"]+)"/.exec(startLog)?.[1];
  if (proxyUrl === undefined) throw new Error(`no proxy URL in the daemon's log:\n${startLog}`);
  return { ...started, proxyUrl, startLog };
}
