import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { CONFIG_FILE_ENV, configFromEnv } from './env.js';
import { type Config, configSchema } from './schema.js';

/** One layer of configuration and where it came from, for error messages. */
export interface ConfigLayer {
  readonly source: string;
  readonly values: Record<string, unknown>;
}

/** The outcome of loading: the config, the file used (if any), and warnings such as unknown keys. */
export interface LoadedConfig {
  readonly config: Config;
  readonly file: string | null;
  readonly warnings: readonly string[];
}

/**
 * Loads configuration from defaults < command defaults < file < environment < flags and validates it, reporting every
 * problem at once. Throws {@link ConfigError} `CONFIG_UNREADABLE`, `CONFIG_PARSE_FAILED` or
 * `CONFIG_INVALID`. Unknown keys are warnings, not errors.
 */
export async function loadConfig(options: {
  readonly file?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly flags?: Record<string, unknown>;
  /** A command's own defaults (e.g. quieter logging for `probe`), below everything else. */
  readonly commandDefaults?: Record<string, unknown>;
}): Promise<LoadedConfig> {
  const file = options.file ?? options.env[CONFIG_FILE_ENV] ?? null;
  const layers: ConfigLayer[] = [];
  if (options.commandDefaults) layers.push({ source: 'command default', values: options.commandDefaults });
  if (file !== null && file !== '') layers.push({ source: file, values: await readConfigFile(file) });
  layers.push({ source: 'environment', values: configFromEnv(options.env) });
  if (options.flags) layers.push({ source: 'command line', values: options.flags });
  return { ...validateLayers(layers), file: file || null };
}

/** Reads a YAML or JSON file (YAML is a superset of JSON) into a plain object. */
async function readConfigFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError('CONFIG_UNREADABLE', `cannot read config file ${file}: ${reason}`, [], {
      cause: error,
    });
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text, { strict: true, uniqueKeys: true });
  } catch (error) {
    throw new ConfigError(
      'CONFIG_PARSE_FAILED',
      `config file ${file} is not valid YAML or JSON: ${(error as Error).message}`,
      [],
      {
        cause: error,
      },
    );
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(
      'CONFIG_PARSE_FAILED',
      `config file ${file} must hold a mapping of keys, found ${describe(parsed)}`,
    );
  }
  return parsed as Record<string, unknown>;
}

/** Merges layers, validates the result, and lists every problem with the layer it came from. */
export function validateLayers(layers: readonly ConfigLayer[]): { config: Config; warnings: string[] } {
  const merged: Record<string, unknown> = {};
  const sourceOf = new Map<string, string>();
  for (const layer of layers) mergeInto(merged, layer.values, layer.source, '', sourceOf);
  const warnings = unknownKeys(merged, configSchema).map(
    (path) => `unknown config key ${path} (from ${sourceOf.get(path) ?? 'config'}) is ignored`,
  );
  const result = configSchema.safeParse(merged);
  if (result.success) return { config: result.data, warnings };
  const problems = result.error.issues.map((issue) => toProblem(issue, merged, sourceOf));
  const lines = problems.map(
    (p) => `  ${p.path}${p.source ? ` (from ${p.source})` : ''}: expected ${p.expected}, found ${p.found}`,
  );
  throw new ConfigError(
    'CONFIG_INVALID',
    `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
    problems,
  );
}

function mergeInto(
  target: Record<string, unknown>,
  values: Record<string, unknown>,
  source: string,
  prefix: string,
  sourceOf: Map<string, string>,
): void {
  for (const [key, value] of Object.entries(values)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (isPlainObject(value)) {
      // An empty mapping adds nothing: it must not hide an earlier layer's wrong value (`api: "yes"`).
      if (Object.keys(value).length === 0 && target[key] !== undefined) continue;
      if (!isPlainObject(target[key])) target[key] = {};
      mergeInto(target[key] as Record<string, unknown>, value, source, path, sourceOf);
    } else {
      target[key] = value;
      sourceOf.set(path, source);
    }
  }
}

/** Paths present in the input that the schema does not define. */
function unknownKeys(input: unknown, schema: z.ZodType, prefix = ''): string[] {
  const shape = objectShape(schema);
  if (!shape || !isPlainObject(input)) return [];
  const found: string[] = [];
  for (const [key, value] of Object.entries(input)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const child = shape[key];
    if (child === undefined) found.push(path);
    else found.push(...unknownKeys(value, child, path));
  }
  return found;
}

/** The object shape behind defaults and prefaults, or null for non-objects. */
function objectShape(schema: z.ZodType): Record<string, z.ZodType> | null {
  let current: z.ZodType = schema;
  for (let depth = 0; depth < 5; depth++) {
    const def = (
      current as unknown as {
        def: { type: string; innerType?: z.ZodType; shape?: Record<string, z.ZodType> };
      }
    ).def;
    if (def.type === 'object') return def.shape ?? null;
    if (!def.innerType) return null;
    current = def.innerType;
  }
  return null;
}

function toProblem(issue: z.core.$ZodIssue, input: unknown, sourceOf: Map<string, string>): ConfigProblem {
  const path = issue.path.map(String).join('.') || '(root)';
  let value: unknown = input;
  for (const part of issue.path) value = isPlainObject(value) ? value[String(part)] : undefined;
  const source = sourceOf.get(path);
  return { path, expected: expectedText(issue), found: describe(value), ...(source ? { source } : {}) };
}

/** zod's type names as a person reads them. */
const TYPE_NAMES: Readonly<Record<string, string>> = {
  int: 'an integer',
  object: 'a mapping',
  array: 'a list',
  boolean: 'a boolean (true or false)',
};

function expectedText(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return TYPE_NAMES[issue.expected] ?? `a ${issue.expected}`;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return `${issue.origin === 'string' ? 'a string of length' : 'a value'} >= ${String(issue.minimum)}`;
    case 'too_big':
      return `${issue.origin === 'string' ? 'a string of length' : 'a value'} <= ${String(issue.maximum)}`;
    case 'invalid_format':
      return issue.format === 'url'
        ? 'a URL such as http://localhost:4318'
        : `text in ${issue.format} format`;
    default:
      return issue.message.toLowerCase();
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'no value';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (isPlainObject(value)) return 'a mapping';
  return String(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
