import { appendFile, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { cliSkipReason, parseLogLines, runCli, startSimulatedDaemon, waitForStderr } from '../helpers/cli.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

// A daemon killed mid-append leaves a partial last line. The next start reads the ledger once:
// that pass quarantines the torn bytes, resumes the chain after the last whole batch and fills the
// API index, which must then serve the batches written before and after the restart.
const skip = cliSkipReason();

describeUnless(skip)('daemon restart after a torn tail', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('quarantines the partial line, resumes the chain, serves every batch and verifies', async () => {
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const first = await startSimulatedDaemon(dir);
    await waitForStderr(first.daemon, (text) => (text.match(/LEDGER_SEALED/g) ?? []).length >= 3);
    first.daemon.kill('SIGTERM');
    expect((await first.done).code).toBe(0);

    const segment = join(
      first.ledger,
      (await readdir(first.ledger))
        .filter((n) => n.startsWith('ledger-'))
        .sort()
        .at(-1) as string,
    );
    const wholeBytes = (await stat(segment)).size;
    const torn = '{"payloadType":"application/vnd.in-toto+json","payload":"eyJfdHlw';
    await appendFile(segment, torn);

    const second = await startSimulatedDaemon(dir, [], {}, first.key);
    const log = await waitForStderr(
      second.daemon,
      (text) => text.includes('API_LISTENING') && (text.match(/LEDGER_SEALED/g) ?? []).length >= 2,
      20_000,
    );
    const lines = parseLogLines(log);
    const repaired = lines.find((l) => l.kind === 'torn-tail-repaired');
    expect(repaired).toMatchObject({ offset: wholeBytes, bytes: torn.length });
    expect(await readFile(repaired?.quarantinePath as string, 'utf8')).toBe(torn);
    const resumedAt = Number(lines.find((l) => l.code === 'LEDGER_OPEN')?.nextSequence);
    expect(resumedAt).toBeGreaterThanOrEqual(3);

    const url = lines.find((l) => l.code === 'API_LISTENING')?.url as string;
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    // The batch sealed just before the kill and the first one after the restart, from the index.
    for (const seq of [resumedAt - 1, resumedAt]) {
      const response = await fetch(`${url}/v1/batches/${seq}`);
      expect(response.status).toBe(200);
      const bytes = Buffer.from(await response.arrayBuffer());
      const onDisk = (await readFile(segment, 'utf8')).split('\n');
      expect(onDisk).toContain(bytes.toString('utf8').trim());
    }
    second.daemon.kill('SIGTERM');
    expect((await second.done).code).toBe(0);

    const verified = await runCli(['verify', first.ledger, '--key', `${first.key}.pub`]);
    expect(verified.code, verified.stdout).toBe(0);
  });
});
