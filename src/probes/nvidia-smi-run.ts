/**
 * One bounded run of nvidia-smi (`-q -x`): output collected up to a byte limit, stderr kept apart,
 * and on timeout the child *and its process group* killed (SIGKILL), so a wrapper script that
 * forked the real binary leaves nothing behind. No shell: the path is run as given.
 */
import { spawn } from 'node:child_process';

/** Options of {@link runSmiOnce}. */
export interface SmiRunOptions {
  readonly nvidiaSmiPath: string;
  readonly args: readonly string[];
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  /** Extra environment, merged over `process.env` (and `LC_ALL=C`). */
  readonly env?: Readonly<Record<string, string>>;
}

/** How the run ended. Never throws. */
export type SmiRunResult =
  | {
      readonly kind: 'exited';
      readonly code: number | null;
      readonly signal: string | null;
      readonly stdout: string;
      readonly stderr: string;
    }
  | { readonly kind: 'spawn-failed'; readonly message: string }
  | { readonly kind: 'timeout'; readonly pid: number }
  | { readonly kind: 'too-large' };

const STDERR_LIMIT = 4096;

/** Runs the command once; see {@link SmiRunResult}. */
export function runSmiOnce(options: SmiRunOptions): Promise<SmiRunResult> {
  return new Promise((resolve) => {
    // LC_ALL=C: decimal points, not locale commas, in the watts we parse.
    const env = { ...process.env, ...options.env, LC_ALL: 'C' };
    // detached: the child leads its own process group, which a timeout kills as a whole.
    const child = spawn(options.nvidiaSmiPath, [...options.args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
      detached: true,
    });
    const chunks: Buffer[] = [];
    let bytes = 0;
    let stderr = '';
    let outcome: SmiRunResult | undefined;
    const finish = (result: SmiRunResult): void => {
      outcome ??= result;
    };
    const killGroup = (): void => {
      const pid = child.pid;
      if (pid === undefined) return;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL'); // the group is gone already; make sure of the child itself
      }
    };
    const timer = setTimeout(() => {
      finish({ kind: 'timeout', pid: child.pid ?? -1 });
      killGroup();
    }, options.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > options.maxOutputBytes) {
        finish({ kind: 'too-large' });
        killGroup();
      } else chunks.push(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_LIMIT);
    });
    child.once('error', (error) => {
      finish({ kind: 'spawn-failed', message: error.message });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(chunks).toString('utf8');
      finish({ kind: 'exited', code, signal, stdout, stderr });
      resolve(outcome as SmiRunResult);
    });
  });
}
