import type { ChildProcess } from 'node:child_process';
import { type CliResult, collect, startCli } from './cli.js';

/** A running `wattledger demo`, with the URLs its banner printed. */
export interface RunningDemo {
  readonly child: ChildProcess;
  /** The API and dashboard's origin, e.g. `http://127.0.0.1:41234`. */
  readonly apiUrl: string;
  /** The measuring proxy's origin. */
  readonly proxyUrl: string;
  /** Resolves when the demo exits (killed after `timeoutMs`). */
  readonly done: Promise<CliResult>;
  /** Everything written to stdout so far. */
  stdout(): string;
}

/**
 * Starts `wattledger demo --dir <dir>` with the API and the proxy on loopback ports the system
 * picks, plus `extraArgs`, and resolves once its banner names both (the daemon is then running
 * and the load generator sending).
 */
export async function startDemo(
  dir: string,
  extraArgs: readonly string[],
  timeoutMs: number,
): Promise<RunningDemo> {
  const child = startCli([
    'demo',
    '--dir',
    dir,
    '--api-listen',
    '127.0.0.1:0',
    '--proxy-listen',
    '127.0.0.1:0',
    ...extraArgs,
  ]);
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const done = collect(child, timeoutMs);
  const banner = await new Promise<string>((resolve, reject) => {
    const check = () => {
      if (/dashboard\s+http/.test(out) && /proxy\s+http/.test(out)) resolve(out);
    };
    child.stdout?.on('data', check);
    void done.then((result) =>
      reject(new Error(`the demo exited before its banner: ${result.stderr}${out}`)),
    );
  });
  const apiUrl = /dashboard\s+(http:\/\/[^/\s]+)\/dashboard\//.exec(banner)?.[1];
  const proxyUrl = /proxy\s+(http:\/\/[^/\s]+)\//.exec(banner)?.[1];
  if (apiUrl === undefined || proxyUrl === undefined) throw new Error(`no URLs in the banner:\n${banner}`);
  return { child, apiUrl, proxyUrl, done, stdout: () => out };
}

/** Polls `probe` every 250 ms until it returns a value (not undefined), or throws after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
