/**
 * Environment variables that set configuration keys. An explicit table, so that the documentation,
 * `--help` and the code say the same thing and nothing else in the environment is read.
 */
export const ENV_KEYS: Readonly<
  Record<string, { readonly path: string; readonly type: 'string' | 'integer' }>
> = {
  WATTLEDGER_GPU_PROBE: { path: 'probes.gpu', type: 'string' },
  WATTLEDGER_RAPL: { path: 'probes.rapl', type: 'string' },
  WATTLEDGER_NVML_LIBRARY: { path: 'probes.nvmlLibraryPath', type: 'string' },
  WATTLEDGER_NVIDIA_SMI: { path: 'probes.nvidiaSmiPath', type: 'string' },
  WATTLEDGER_SYSFS_ROOT: { path: 'probes.sysfsRoot', type: 'string' },
  WATTLEDGER_GPU_INTERVAL_MS: { path: 'meter.gpuIntervalMs', type: 'integer' },
  WATTLEDGER_RAPL_INTERVAL_MS: { path: 'meter.raplIntervalMs', type: 'integer' },
  WATTLEDGER_LEDGER_DIR: { path: 'ledger.dir', type: 'string' },
  WATTLEDGER_SIGNING_KEY: { path: 'keys.signingKeyPath', type: 'string' },
  WATTLEDGER_API_LISTEN: { path: 'api.listen', type: 'string' },
  WATTLEDGER_LOG_LEVEL: { path: 'log.level', type: 'string' },
};

/** The variable that names the config file when `--config` is not given. */
export const CONFIG_FILE_ENV = 'WATTLEDGER_CONFIG';

/**
 * Turns the recognised variables into a partial config object. Integer variables that do not parse
 * are passed through as strings so validation reports them with their source.
 */
export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(ENV_KEYS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const value = spec.type === 'integer' && /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
    setPath(out, spec.path, value);
  }
  return out;
}

/** Sets `a.b.c` in a nested plain object, creating objects on the way. */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] as string] = value;
}
