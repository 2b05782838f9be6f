import { spawn, spawnSync } from 'node:child_process';
import {
  chmod,
  chown,
  cp,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  stat,
  writeFile,
} from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliSkipReason, makeSigningKey, runCli } from '../helpers/cli.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

// No container engine runs here (docs/INSTALL.md, "Container image"). What can be checked without
// one is checked: the Dockerfile's build stage is run step by step in a folder (its COPY lines from
// a context filtered by .dockerignore, its RUN lines as written), the runtime stage's COPY lines lay
// out the image's file tree, and the daemon is started from that tree the way the image starts it:
// ENTRYPOINT through the /usr/local/bin symlink and the script's shebang, as UID 65532, with the
// image's ENV, in its WORKDIR, the tree mounted read-only and only the ledger volume and a tmpfs
// /tmp writable. The base image's own files are stood in for by this host's (Debian bookworm, the
// same release as node:20-bookworm-slim, and Node 20): /usr/lib, /usr/bin/env and node.
// Then the image's HEALTHCHECK command must report ready, SIGTERM must stop it cleanly, and its
// ledger must verify.

const root = new URL('../../', import.meta.url).pathname;
const UID = 65532;

function whyNot(): string | undefined {
  const cli = cliSkipReason();
  if (cli) return cli;
  if (process.getuid?.() !== 0)
    return 'not root: the image tree needs chown to 65532, chroot and a mount namespace';
  const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'true']);
  if (probe.status !== 0)
    return `no mount namespace here (unshare --mount: ${probe.stderr?.toString().trim()})`;
  for (const tool of ['chroot', 'setpriv']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} not installed`;
  }
  return undefined;
}

interface Instruction {
  readonly op: string;
  readonly args: string;
}

/** The Dockerfile as instructions per stage (continuations joined, comments dropped). */
function parseDockerfile(text: string): Instruction[][] {
  const stages: Instruction[][] = [];
  const joined = text.replace(/\\\n(\s*#.*\n)*/g, ' ');
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Z]+)\s+(.*)$/.exec(line);
    if (!match) throw new Error(`unparsable Dockerfile line: ${line}`);
    const [op, args] = [match[1] as string, (match[2] as string).trim()];
    if (op === 'FROM') stages.push([]);
    if (op === 'ARG' && stages.length === 0) continue;
    stages.at(-1)?.push({ op, args });
  }
  return stages;
}

/** `COPY [--flag=value…] src… dest` → flags and paths. */
function parseCopy(args: string): { flags: Record<string, string>; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const flags: Record<string, string> = {};
  while (words[0]?.startsWith('--')) {
    const [key, value = ''] = (words.shift() as string).slice(2).split('=');
    flags[key as string] = value;
  }
  const dest = words.pop() as string;
  return { flags, sources: words, dest };
}

/** Top-level names the build context holds under .dockerignore (`*` then `!name` lines only). */
async function contextEntries(): Promise<string[]> {
  const rules = (await readFile(join(root, '.dockerignore'), 'utf8'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  expect(rules[0], '.dockerignore starts by excluding everything').toBe('*');
  const allowed = rules.slice(1).map((rule) => {
    expect(rule, 'only !<top-level name> exceptions').toMatch(/^![^/*]+\/?$/);
    return rule.slice(1).replace(/\/$/, '');
  });
  const present = new Set(await readdir(root));
  return allowed.filter((name) => present.has(name));
}

function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

const skip = whyNot();

describeUnless(skip)('the container image, built as a file tree without a container engine', () => {
  let dir = '';
  let cleanup = async () => {};
  let build = '';
  let image = '';
  let stages: Instruction[][] = [];
  const imageEnv: Record<string, string> = {};
  let user = '';
  let workdir = '/';
  let entrypoint: string[] = [];
  let healthcheck: string[] = [];

  beforeAll(async () => {
    ({ dir, cleanup } = await makeTmpDir('wattledger-image-'));
    build = join(dir, 'build');
    image = join(dir, 'image');
    await mkdir(build);
    await mkdir(image);
    stages = parseDockerfile(await readFile(join(root, 'Dockerfile'), 'utf8'));
    expect(stages).toHaveLength(2);
    const context = await contextEntries();
    const [buildStage, runtimeStage] = stages as [Instruction[], Instruction[]];

    // Build stage: WORKDIR is this folder, COPY from the filtered context, RUN as written.
    for (const { op, args } of buildStage) {
      if (op === 'WORKDIR') expect(args).toBe('/build');
      else if (op === 'COPY') {
        const { flags, sources, dest } = parseCopy(args);
        expect(flags).toEqual({});
        for (const source of sources) {
          expect(context, `${source} is in the build context`).toContain(source);
          const target = dest.endsWith('/') ? join(build, dest, source) : join(build, dest);
          await cp(join(root, source), target, { recursive: true });
        }
      } else if (op === 'RUN') {
        expect(args, 'build steps stay inside WORKDIR').not.toMatch(/(^|\s)\/(?!opt\/wattledger)/);
        const result = await run('sh', ['-ec', args], {
          cwd: build,
          // The npm cache the checkout was installed from; the registry only for what it lacks.
          env: { PATH: process.env.PATH, HOME: process.env.HOME, npm_config_prefer_offline: 'true' },
          timeoutMs: 240_000,
        });
        expect(result.code, `RUN ${args}\n${result.out.slice(-3000)}`).toBe(0);
      } else expect(['FROM', 'ARG'], `build stage: ${op}`).toContain(op);
    }

    // Runtime stage: COPY --from=build lays out the tree; the rest is recorded.
    for (const { op, args } of runtimeStage) {
      if (op === 'COPY') {
        const { flags, sources, dest } = parseCopy(args);
        expect(flags.from).toBe('build');
        for (const source of sources) {
          expect(source.startsWith('/build/')).toBe(true);
          const target = join(image, dest);
          await mkdir(join(target, '..'), { recursive: true });
          await cp(join(build, source.slice('/build/'.length)), target, {
            recursive: true,
            verbatimSymlinks: true,
          });
          if (flags.chown) {
            const [u, g] = flags.chown.split(':').map(Number);
            await chown(target, u as number, g as number);
          }
          if (flags.chmod) await chmod(target, Number.parseInt(flags.chmod, 8));
        }
      } else if (op === 'RUN') {
        // Only removals of the base image's npm/corepack/yarn, which this tree never had.
        expect(args).toMatch(/^rm -rf(\s+\/(usr\/local|opt)\/\S+)+$/);
      } else if (op === 'ENV') {
        for (const m of args.matchAll(/(\w+)=(\S+)/g)) imageEnv[m[1] as string] = m[2] as string;
      } else if (op === 'USER') user = args;
      else if (op === 'WORKDIR') workdir = args;
      else if (op === 'ENTRYPOINT') entrypoint = JSON.parse(args) as string[];
      else if (op === 'HEALTHCHECK') healthcheck = JSON.parse(args.replace(/^.*?CMD\s+/, '')) as string[];
      else expect(['FROM', 'VOLUME', 'CMD'], `runtime stage: ${op}`).toContain(op);
    }
  }, 300_000);

  afterAll(async () => {
    await cleanup();
  });

  it('holds the production dependencies and the compiled daemon, and nothing for development', async () => {
    const app = join(image, 'opt/wattledger');
    // Exactly the lockfile's production packages: every one present, none marked dev.
    const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }>;
    };
    const entries = Object.entries(lock.packages).filter(([path]) => path.startsWith('node_modules/'));
    const dev = entries.filter(([, meta]) => meta.dev === true).map(([path]) => path);
    const production = entries
      .filter(([, meta]) => !meta.dev && !meta.optional && !meta.devOptional)
      .map(([path]) => path);
    expect(dev).toContain('node_modules/typescript');
    expect(production).toContain('node_modules/fastify');
    for (const path of production) expect((await stat(join(app, path))).isDirectory(), path).toBe(true);
    for (const path of dev) await expect(stat(join(app, path)), path).rejects.toThrow();
    expect(await readdir(app)).toEqual(['dist', 'node_modules', 'package.json']);
    expect(await readdir(join(app, 'dist'))).toEqual(['src']);
    // No compiler or build tool in the tree (the base image has none; npm with node-gyp is removed).
    const tools = spawnSync(
      'find',
      [image, '(', '-name', 'node-gyp*', '-o', '-name', 'gcc*', '-o', '-name', 'cc', ')'],
      {
        encoding: 'utf8',
      },
    );
    expect(tools.stdout.trim()).toBe('');
    // Our own code only compiled: no TypeScript sources or source maps.
    const sources = spawnSync(
      'find',
      [
        join(app, 'dist'),
        '(',
        '-name',
        '*.map',
        '-o',
        '(',
        '-name',
        '*.ts',
        '-not',
        '-name',
        '*.d.ts',
        ')',
        ')',
      ],
      {
        encoding: 'utf8',
      },
    );
    expect(sources.stdout.trim()).toBe('');
  });

  it('starts through ENTRYPOINT: the /usr/local/bin symlink to an executable node script', async () => {
    expect(entrypoint).toEqual(['/usr/local/bin/wattledger']);
    const link = join(image, 'usr/local/bin/wattledger');
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    const target = await readlink(link);
    expect(target).toBe('/opt/wattledger/dist/src/main.js');
    const script = join(image, target);
    expect((await stat(script)).mode & 0o777).toBe(0o755);
    expect((await readFile(script, 'utf8')).split('\n')[0]).toBe('#!/usr/bin/env node');
    expect(user).toBe(`${UID}:${UID}`);
    const ledgerDir = await stat(join(image, 'var/lib/wattledger'));
    expect([ledgerDir.uid, ledgerDir.gid, ledgerDir.mode & 0o777]).toEqual([UID, UID, 0o700]);
    expect(workdir).toBe('/var/lib/wattledger');
  });

  it('runs read-only as 65532, reports ready through HEALTHCHECK, stops on SIGTERM, and its ledger verifies', async () => {
    // Stand-ins for the base image's own files, and the mount points.
    for (const d of ['usr/lib', 'usr/lib64', 'usr/bin', 'proc', 'dev', 'sys', 'tmp', 'run/secrets', 'etc']) {
      await mkdir(join(image, d), { recursive: true });
    }
    for (const [link, to] of [
      ['lib', 'usr/lib'],
      ['lib64', 'usr/lib64'],
      ['bin', 'usr/bin'],
    ] as const) {
      spawnSync('ln', ['-sfn', to, join(image, link)]);
    }
    await writeFile(join(image, 'usr/bin/env'), '');
    await writeFile(join(image, 'usr/local/bin/node'), '');
    // The ledger volume and the secret, owned by the image's user.
    const volume = join(dir, 'volume');
    const secrets = join(dir, 'secrets');
    await mkdir(volume, { mode: 0o700 });
    await chown(volume, UID, UID);
    await mkdir(secrets, { mode: 0o700 });
    const key = await makeSigningKey(dir, 'example.com/wattledger/image');
    await cp(key, join(secrets, 'signing-key'));
    await chmod(join(secrets, 'signing-key'), 0o600);
    await chown(secrets, UID, UID);
    await chown(join(secrets, 'signing-key'), UID, UID);

    const port = await freePort();
    const env = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/',
      ...imageEnv,
      WATTLEDGER_API_LISTEN: `127.0.0.1:${port}`,
      WATTLEDGER_LOG_LEVEL: 'debug',
    };
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const inImage = (argv: readonly string[], as = user) =>
      ['chroot', `--userspec=${as}`, image, '/usr/bin/env', '-i', '-C', workdir, ...envArgs, ...argv]
        .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
        .join(' ');
    const ro = (from: string, to: string) => `mount --bind ${from} ${to} && mount -o remount,bind,ro ${to}`;
    const script = [
      'set -e',
      `mount --bind ${image} ${image}`,
      ro('/usr/lib', `${image}/usr/lib`),
      ro('/usr/lib64', `${image}/usr/lib64`),
      ro('/usr/bin/env', `${image}/usr/bin/env`),
      ro(process.execPath, `${image}/usr/local/bin/node`),
      `mount --rbind /dev ${image}/dev`,
      `mount --rbind /proc ${image}/proc`,
      ro('/sys', `${image}/sys`),
      `mount -o remount,bind,ro ${image}`,
      `mount -t tmpfs -o size=16m tmpfs ${image}/tmp`,
      `mount --bind ${volume} ${image}/var/lib/wattledger`,
      ro(secrets, `${image}/run/secrets`),
      // The root filesystem really is read-only for the daemon's user.
      // The root filesystem really is read-only: even root gets EROFS, not just EACCES.
      `${inImage(['/usr/local/bin/node', '-e', "try{require('fs').writeFileSync('/opt/wattledger/x','')}catch(e){console.log('WRITE '+e.code)}"], '0:0')}`,
      `${inImage(['/usr/local/bin/wattledger', 'run', '--simulate', '--rapl', 'off', '--batch-interval-ms', '300'])} 2>"${dir}/daemon.log" &`,
      'pid=$!',
      // HEALTHCHECK until it passes: the readiness event, bounded at 30 s.
      'tries=0',
      `until ${inImage(healthcheck)}; do tries=$((tries+1)); [ $tries -lt 150 ] || { echo NEVER-HEALTHY; kill -KILL $pid; exit 4; }; sleep 0.2; done`,
      'echo HEALTHY',
      'kill -TERM $pid',
      'wait $pid && echo "EXIT 0" || echo "EXIT $?"',
    ].join('\n');
    const result = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
      timeoutMs: 90_000,
    });
    const daemonLog = await readFile(join(dir, 'daemon.log'), 'utf8').catch(() => '');
    expect(result.out, `${result.out}\n${daemonLog.slice(-3000)}`).toContain('HEALTHY');
    expect(result.out, daemonLog.slice(-3000)).toContain('EXIT 0');
    expect(result.out).toContain('WRITE EROFS');
    // Written only where the image says: the ledger volume (default ledger.dir), as 65532.
    const ledger = join(volume, 'ledger');
    const owner = await stat(ledger);
    expect([owner.uid, owner.gid]).toEqual([UID, UID]);
    const verified = await runCli(['verify', ledger, '--key', `${key}.pub`]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toContain('VERIFIED');
  }, 120_000);
});
