/**
 * The `events` config section and the token file: defaults, refused values, and the permission
 * rule that keeps tokens out of world-readable files.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseListenAddress } from '../../../src/api/listen.js';
import { loadConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/errors.js';
import { EVENT_TOKENS_CREDENTIAL, loadEventTokens } from '../../../src/events/token-file.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTmpDir('wattledger-events-')));
afterEach(async () => cleanup());

const A = 'a'.repeat(64);
const B = 'b-token/with+chars=_~.0123456789';

async function tokenFile(name: string, text: string, mode: number): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  await chmod(path, mode);
  return path;
}

describe('config events section', () => {
  it('defaults to disabled on loopback port 9465 with the documented bounds', async () => {
    const { config } = await loadConfig({ env: {} });
    expect(config.events).toEqual({
      enabled: false,
      listen: '127.0.0.1:9465',
      tokenFile: null,
      maxInFlight: 10_000,
      maxBodyBytes: 1_048_576,
      openTimeoutMs: 3_600_000,
    });
    expect(parseListenAddress(config.events.listen)).toEqual({ host: '127.0.0.1', port: 9465 });
  });

  it('refuses bad values, naming each key', async () => {
    const events = { listen: '127.0.0.1', tokenFile: '', maxInFlight: 0, maxBodyBytes: 10, openTimeoutMs: 5 };
    const error = await loadConfig({ env: {}, flags: { events } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => p.path).sort()).toEqual(
      Object.keys(events)
        .map((k) => `events.${k}`)
        .sort(),
    );
  });
});

describe('loadEventTokens', () => {
  it('reads one token per line, skipping blank lines and comments', async () => {
    const path = await tokenFile('tokens', `# rotated 2025-11\n${A}\n\n  ${B}  \n`, 0o600);
    expect(await loadEventTokens({ path })).toEqual([A, B]);
  });

  it('refuses a file its group or others may read, without reading it', async () => {
    for (const mode of [0o640, 0o604, 0o644]) {
      const path = await tokenFile(`t${mode}`, `${A}\n`, mode);
      const error = await loadEventTokens({ path }).catch((e: unknown) => e);
      expect(error, mode.toString(8)).toMatchObject({ code: 'EVENTS_TOKENS_INSECURE_PERMISSIONS' });
      expect(String((error as Error).message)).not.toContain(A);
    }
  });

  it('falls back to the systemd credential, where only the other bits matter', async () => {
    const credentials = join(dir, 'credentials');
    await mkdir(credentials);
    const path = join(credentials, EVENT_TOKENS_CREDENTIAL);
    await writeFile(path, `${A}\n`);
    await chmod(path, 0o440);
    expect(await loadEventTokens({ path: null, credentialsDirectory: credentials })).toEqual([A]);
    await chmod(path, 0o444);
    await expect(loadEventTokens({ credentialsDirectory: credentials })).rejects.toMatchObject({
      code: 'EVENTS_TOKENS_INSECURE_PERMISSIONS',
    });
  });

  it('refuses missing files, empty files and malformed lines (by number, never by content)', async () => {
    await expect(loadEventTokens({})).rejects.toMatchObject({ code: 'EVENTS_TOKENS_NOT_FOUND' });
    await expect(loadEventTokens({ path: join(dir, 'none') })).rejects.toMatchObject({
      code: 'EVENTS_TOKENS_NOT_FOUND',
    });
    const empty = await tokenFile('empty', '# nothing\n', 0o600);
    await expect(loadEventTokens({ path: empty })).rejects.toMatchObject({ code: 'EVENTS_TOKENS_INVALID' });
    const secret = 'has spaces but is secret';
    const bad = await tokenFile('bad', `${A}\n${secret}\n`, 0o600);
    const error = await loadEventTokens({ path: bad }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'EVENTS_TOKENS_INVALID',
      message: expect.stringContaining('line 2'),
    });
    expect((error as Error).message).not.toContain(secret);
  });
});
