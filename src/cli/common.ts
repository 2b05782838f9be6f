import { type Command, Option } from 'commander';
import { setPath } from '../config/env.js';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import { createLogger, type Logger, logFormatFor } from '../log.js';

/** Options every measuring command shares; each maps onto one configuration key. */
export interface CommonOptions {
  readonly config?: string;
  readonly simulate?: boolean;
  readonly simulateIfNoGpu?: boolean;
  readonly gpuProbe?: string;
  readonly nvmlLibrary?: string;
  readonly nvidiaSmi?: string;
  readonly sysfsRoot?: string;
  readonly gpuIntervalMs?: string;
  readonly rapl?: string;
  readonly logLevel?: string;
}

const FLAG_PATHS: ReadonlyArray<readonly [keyof CommonOptions, string, 'string' | 'integer']> = [
  ['gpuProbe', 'probes.gpu', 'string'],
  ['nvmlLibrary', 'probes.nvmlLibraryPath', 'string'],
  ['nvidiaSmi', 'probes.nvidiaSmiPath', 'string'],
  ['sysfsRoot', 'probes.sysfsRoot', 'string'],
  ['rapl', 'probes.rapl', 'string'],
  ['gpuIntervalMs', 'meter.gpuIntervalMs', 'integer'],
  ['logLevel', 'log.level', 'string'],
];

/** Adds the shared configuration flags to a command. */
export function addCommonOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'configuration file, YAML or JSON (env WATTLEDGER_CONFIG)')
    .option('--simulate', 'use simulated GPUs (a deterministic power model); every output says so')
    .option('--simulate-if-no-gpu', 'use real GPUs when there are any, else simulated ones, and say so')
    .addOption(
      new Option('--gpu-probe <probe>', 'GPU backend (config probes.gpu)').choices([
        'auto',
        'nvml',
        'nvidia-smi',
        'simulated',
        'auto-or-simulated',
        'none',
      ]),
    )
    .option('--nvml-library <path>', 'path of libnvidia-ml.so.1 (config probes.nvmlLibraryPath)')
    .option('--nvidia-smi <path>', 'path of nvidia-smi (config probes.nvidiaSmiPath)')
    .option('--sysfs-root <dir>', 'sysfs mount holding class/powercap (config probes.sysfsRoot)')
    .addOption(
      new Option('--rapl <mode>', 'host CPU/DRAM energy through RAPL (config probes.rapl)').choices([
        'auto',
        'on',
        'off',
      ]),
    )
    .option('--gpu-interval-ms <ms>', 'GPU sampling interval (config meter.gpuIntervalMs)')
    .option('--log-level <level>', 'trace, debug, info, warn, error, fatal or silent (config log.level)');
}

/** Turns parsed flags into a configuration layer (flags win over file and environment). */
export function flagsFromOptions(options: CommonOptions): Record<string, unknown> {
  const flags: Record<string, unknown> = {};
  for (const [key, path, type] of FLAG_PATHS) {
    const raw = options[key];
    if (typeof raw !== 'string') continue;
    setPath(flags, path, type === 'integer' && /^\d+$/.test(raw) ? Number(raw) : raw);
  }
  if (options.simulateIfNoGpu) setPath(flags, 'probes.gpu', 'auto-or-simulated');
  if (options.simulate) setPath(flags, 'probes.gpu', 'simulated');
  return flags;
}

/** Loads and validates the configuration and builds the logger for a command. */
export async function loadContext(
  options: CommonOptions,
  env: NodeJS.ProcessEnv,
  commandDefaults: Record<string, unknown> = {},
  extraFlags: Record<string, unknown> = {},
): Promise<LoadedConfig & { logger: Logger }> {
  // extraFlags holds a command's own sections (run's ledger and keys); they never overlap the common ones.
  const flags = { ...flagsFromOptions(options), ...extraFlags };
  const loaded = await loadConfig({ file: options.config, env, flags, commandDefaults });
  const logger = createLogger(loaded.config.log.level, 2, logFormatFor(env, process.stderr.isTTY === true));
  for (const warning of loaded.warnings) logger.warn({ code: 'CONFIG_UNKNOWN_KEY' }, warning);
  return { ...loaded, logger };
}
