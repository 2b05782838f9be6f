import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/errors.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTmpDir()));
afterEach(async () => cleanup());

describe('loadConfig', () => {
  it('fills sane defaults with no file, no environment and no flags', async () => {
    const { config, warnings, file } = await loadConfig({ env: {} });
    expect(file).toBeNull();
    expect(warnings).toEqual([]);
    expect(config.probes).toMatchObject({
      gpu: 'auto',
      rapl: 'auto',
      nvmlLibraryPath: 'libnvidia-ml.so.1',
      nvidiaSmiPath: 'nvidia-smi',
      sysfsRoot: '/sys',
    });
    expect(config.meter).toEqual({ gpuIntervalMs: 100, raplIntervalMs: 1000, readTimeoutMs: 2000 });
  });

  it('layers file < environment < flags', async () => {
    const file = join(dir, 'config.yaml');
    await writeFile(file, 'probes:\n  sysfsRoot: /host/sys\n  gpu: nvml\nmeter:\n  gpuIntervalMs: 200\n');
    const { config } = await loadConfig({
      file,
      env: { WATTLEDGER_GPU_INTERVAL_MS: '250', WATTLEDGER_NVIDIA_SMI: '/opt/smi' },
      flags: { probes: { gpu: 'simulated' } },
    });
    expect(config.probes.sysfsRoot).toBe('/host/sys');
    expect(config.probes.nvidiaSmiPath).toBe('/opt/smi');
    expect(config.meter.gpuIntervalMs).toBe(250);
    expect(config.probes.gpu).toBe('simulated');
  });

  it('reads JSON files too and takes the file from WATTLEDGER_CONFIG', async () => {
    const file = join(dir, 'config.json');
    await writeFile(file, JSON.stringify({ meter: { raplIntervalMs: 500 } }));
    const loaded = await loadConfig({ env: { WATTLEDGER_CONFIG: file } });
    expect(loaded.file).toBe(file);
    expect(loaded.config.meter.raplIntervalMs).toBe(500);
  });

  it('lists every problem at once with path, expected, found and source', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'probes:\n  gpu: cuda\nmeter:\n  gpuIntervalMs: fast\n  raplIntervalMs: 5000\n');
    const error = await loadConfig({ file, env: { WATTLEDGER_LOG_LEVEL: 'loud' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems.map((p) => p.path).sort()).toEqual([
      'log.level',
      'meter.gpuIntervalMs',
      'meter.raplIntervalMs',
      'probes.gpu',
    ]);
    expect(problems.find((p) => p.path === 'meter.raplIntervalMs')).toMatchObject({
      expected: 'a value <= 1000',
      found: '5000',
      source: file,
    });
    expect(problems.find((p) => p.path === 'log.level')).toMatchObject({
      found: '"loud"',
      source: 'environment',
    });
    expect((error as ConfigError).message).toContain('4 problems');
  });

  it('warns about unknown keys instead of failing', async () => {
    const file = join(dir, 'typo.yaml');
    await writeFile(file, 'probes:\n  sysfsRot: /x\nmetre: {}\n');
    const { warnings, config } = await loadConfig({ file, env: {} });
    expect(warnings).toEqual([
      `unknown config key probes.sysfsRot (from ${file}) is ignored`,
      'unknown config key metre (from config) is ignored',
    ]);
    expect(config.probes.sysfsRoot).toBe('/sys');
  });

  it('fails clearly on a missing file and on malformed YAML', async () => {
    await expect(loadConfig({ file: join(dir, 'nope.yaml'), env: {} })).rejects.toMatchObject({
      code: 'CONFIG_UNREADABLE',
    });
    const file = join(dir, 'broken.yaml');
    await writeFile(file, 'probes: [unclosed\n');
    await expect(loadConfig({ file, env: {} })).rejects.toMatchObject({ code: 'CONFIG_PARSE_FAILED' });
    await writeFile(file, '- a list\n');
    await expect(loadConfig({ file, env: {} })).rejects.toMatchObject({ code: 'CONFIG_PARSE_FAILED' });
  });
});

describe('loadConfig messages a person can act on', () => {
  it('refuses a section given as a scalar even when a flag layer adds an empty mapping', async () => {
    const file = join(dir, 'config.yaml');
    await writeFile(file, 'api: "yes"\n');
    const error = await loadConfig({ env: {}, file, flags: { api: {}, proxy: {} } }).catch((e) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.problems).toEqual([{ path: 'api', expected: 'a mapping', found: '"yes"', source: file }]);
  });

  it('names the expectation of a URL and of a missing value in words', async () => {
    const file = join(dir, 'config.yaml');
    await writeFile(file, 'otlp:\n  endpoint: "not a url"\nengines:\n  - devices: all\n');
    const error = (await loadConfig({ env: {}, file }).catch((e) => e)) as ConfigError;
    expect(error.message).toContain('otlp.endpoint (from');
    expect(error.message).toContain('expected a URL such as http://localhost:4318, found "not a url"');
    expect(error.message).toMatch(/engines\.0\.id[^\n]*found no value/);
    expect(error.message).not.toMatch(/found nothing|expected invalid/);
  });
});
