import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configSchema } from '../../../src/config/schema.js';
import { itUnless } from '../../helpers/skip.js';

// Static checks of the deployment artefacts in systemd/ and helm/ (STYLE.md §G). Where the real tool
// is installed (systemd-analyze, systemd-sysusers, systemd-tmpfiles, helm) the files are also run
// through it; otherwise those tests are skipped with the reason printed.

const root = new URL('../../../', import.meta.url).pathname;
const read = (path: string): string => readFileSync(join(root, path), 'utf8');
const chartDir = join(root, 'helm/wattledger');

/**
 * Keys the example configs carry ahead of the features that read them. Until the schema knows one,
 * it is removed before validation (the daemon only warns about it); once the schema knows it, it is
 * validated like any other key.
 */
type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** YAML parsed the way the daemon's loader parses it: strict, duplicate keys rejected. */
const parseStrictYaml = (text: string): unknown => parseYaml(text, { strict: true, uniqueKeys: true });

/** The input JSON Schema zod derives from the daemon's config schema: the source of truth. */
const daemonJsonSchema = z.toJSONSchema(configSchema, { io: 'input' }) as Json;

function schemaNode(schema: Json, path: string): Json | undefined {
  let node: Json | undefined = schema;
  for (const part of path.split('.')) {
    const properties: unknown = node?.properties;
    node = isObject(properties) && isObject(properties[part]) ? properties[part] : undefined;
  }
  return node;
}

/** Dotted paths in `value` that the daemon's schema does not define. */
function unknownKeys(value: unknown, prefix = ''): string[] {
  if (!isObject(value)) return [];
  const found: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const node = schemaNode(daemonJsonSchema, path);
    if (node === undefined) found.push(path);
    else if (isObject(node.properties)) found.push(...unknownKeys(child, path));
  }
  return found;
}

function getPath(value: unknown, path: string): unknown {
  let node = value;
  for (const part of path.split('.')) node = isObject(node) ? node[part] : undefined;
  return node;
}

/** Whether the daemon would accept `config` with no unknown-key warning. */
function expectValidDaemonConfig(config: unknown): void {
  expect(unknownKeys(config), 'keys the daemon does not know').toEqual([]);
  const result = configSchema.safeParse(config);
  expect(result.success ? [] : result.error.issues, 'configSchema issues').toEqual([]);
}

/** `command -v`, or undefined. */
function which(tool: string): string | undefined {
  const result = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  return result.status === 0 && result.stdout.trim() ? result.stdout.trim() : undefined;
}

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wattledger-deploy-'));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

// --- systemd ----------------------------------------------------------------------------------------

/** A unit file as section -> [key, value] in file order (keys repeat, e.g. DeviceAllow=). */
function parseUnit(text: string): Map<string, Array<[string, string]>> {
  const sections = new Map<string, Array<[string, string]>>();
  let current: Array<[string, string]> | undefined;
  for (const raw of text.replace(/\\\n/g, ' ').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = [];
      sections.set(header[1] as string, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) throw new Error(`unparsable unit line: ${line}`);
    current.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return sections;
}

const unitText = read('systemd/wattledger.service');
const unit = parseUnit(unitText);
const service = unit.get('Service') ?? [];
const values = (key: string): string[] => service.filter(([k]) => k === key).map(([, v]) => v);
const single = (key: string): string | undefined => {
  const found = values(key);
  expect(found.length, `${key}= set more than once`).toBeLessThanOrEqual(1);
  return found[0];
};
const isTrue = (value: string | undefined): boolean =>
  value !== undefined && ['yes', 'true', 'on', '1'].includes(value.toLowerCase());

describe('systemd/wattledger.service', () => {
  it('has [Unit], [Service] and [Install] sections', () => {
    expect([...unit.keys()]).toEqual(['Unit', 'Service', 'Install']);
  });

  it('does not set MemoryDenyWriteExecute=yes: V8 needs W+X memory for its JIT and aborts at start', () => {
    expect(isTrue(single('MemoryDenyWriteExecute'))).toBe(false);
    // The comment that stops a future hardening pass from adding it back.
    expect(unitText).toMatch(/^#.*MemoryDenyWriteExecute=yes: V8/m);
  });

  it('does not set PrivateDevices=yes: it hides /dev/nvidia*, so NVML and nvidia-smi find no GPU', () => {
    expect(isTrue(single('PrivateDevices'))).toBe(false);
    expect(unitText).toMatch(/^#.*PrivateDevices=yes: it replaces \/dev/m);
  });

  it('closes the device policy and allows only the NVIDIA device groups', () => {
    expect(single('DevicePolicy')).toBe('closed');
    const allowed = values('DeviceAllow');
    expect(allowed).toContain('/dev/nvidiactl rw');
    expect(allowed).toContain('char-nvidia-frontend rw');
    expect(allowed).toContain('char-nvidia-uvm rw');
    expect(allowed.some((entry) => entry.startsWith('char-nvidia-caps '))).toBe(true);
    for (const entry of allowed) expect(entry, entry).toMatch(/^(\/dev\/nvidia|char-nvidia-)/);
  });

  it('is Type=exec (Node cannot sd_notify) and runs `wattledger run --config` on the installed config', () => {
    expect(single('Type')).toBe('exec');
    const configDir = single('ConfigurationDirectory');
    expect(configDir).toBe('wattledger');
    expect(single('ExecStart')).toBe(`/usr/bin/wattledger run --config /etc/${configDir}/config.yaml`);
  });

  it('passes the signing key as a systemd credential, never as a readable file path', () => {
    expect(values('LoadCredential')).toEqual(['signing-key:/etc/wattledger/signing.key']);
    expect(single('LoadCredentialEncrypted')).toBeUndefined();
    expect(values('ReadOnlyPaths').join(' ')).not.toContain('signing.key');
  });

  it('runs as the static wattledger user with the powercap group, not a dynamic user', () => {
    expect(single('User')).toBe('wattledger');
    expect(isTrue(single('DynamicUser'))).toBe(false);
    expect(values('SupplementaryGroups').join(' ').split(/\s+/)).toContain('powercap');
  });

  it('grants powercap read on every energy_uj in a root (+) ExecStartPre that may fail (-)', () => {
    const pre = values('ExecStartPre');
    expect(pre).toHaveLength(1);
    const [prefix = '', command = ''] = /^([-+@:!]*)(.*)$/.exec(pre[0] as string)?.slice(1) ?? [];
    expect(prefix.split('').sort()).toEqual(['+', '-']);
    expect(command).toMatch(/^\/bin\/sh -c '.*'$/);
    expect(command).toContain('/sys/class/powercap/*/energy_uj');
    expect(command).toContain('chgrp powercap');
    expect(command).toContain('chmod g+r');
    expect(unitText).toMatch(/CVE-2020-8694/);
    expect(unitText).toMatch(/Linux 5\.10/);
  });

  it('applies the STYLE.md §G sandbox', () => {
    expect(single('ProtectSystem')).toBe('strict');
    expect(values('ReadOnlyPaths')).toContain('/sys');
    expect(isTrue(single('NoNewPrivileges'))).toBe(true);
    expect(values('RestrictAddressFamilies')).toEqual(['AF_INET AF_INET6 AF_UNIX']);
    expect(values('SystemCallFilter')).toEqual(['@system-service', '~@privileged @resources']);
    expect(isTrue(single('PrivateMounts'))).toBe(true);
    expect(single('CapabilityBoundingSet')).toBe('');
    expect(single('StateDirectory')).toBe('wattledger');
    expect(single('StateDirectoryMode')).toBe('0700');
    expect(single('UMask')).toBe('0077');
  });

  it('stops with SIGTERM and a timeout, restarts on failure but not on config errors (exit 2)', () => {
    expect(single('KillSignal')).toBe('SIGTERM');
    expect(single('TimeoutStopSec')).toMatch(/^\d+s?$/);
    expect(single('Restart')).toBe('on-failure');
    expect(single('RestartSec')).toMatch(/^\d+s?$/);
    expect(single('RestartPreventExitStatus')).toBe('2');
  });

  it('ExecStartPre really makes energy_uj group-readable on a sysfs-like tree, and copes with none', () => {
    // The unit's own script, with the sysfs path and group redirected to a temp tree we own and our
    // own group (chgrp to a group one belongs to needs no root). `$$` is systemd's escape for `$`.
    const command = (values('ExecStartPre')[0] ?? '').replace(/^[-+@:!]*/, '');
    const script = /^\/bin\/sh -c '(.*)'$/.exec(command)?.[1] ?? '';
    const gid = String(process.getgid?.() ?? 0);
    const sys = tempDir();
    const redirect = (text: string): string => {
      expect(text.split('chgrp powercap ').length, 'one chgrp powercap').toBe(2);
      expect(text.split('/sys/class/powercap/').length, 'one /sys/class/powercap').toBe(2);
      return text
        .replace('chgrp powercap ', `chgrp ${gid} `)
        .replace('/sys/class/powercap/', `${sys}/class/powercap/`)
        .replaceAll('$$', '$');
    };
    const runIt = () => spawnSync('/bin/sh', ['-c', redirect(script)], { encoding: 'utf8' });

    mkdirSync(join(sys, 'class/powercap'), { recursive: true });
    expect(runIt().status, 'no RAPL zones at all').toBe(0);

    const zones = ['intel-rapl:0', 'intel-rapl:0/intel-rapl:0:0', 'intel-rapl:1'];
    for (const zone of zones) {
      const dir = join(sys, 'devices/virtual/powercap/intel-rapl', zone);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'energy_uj'), '240422366267\n');
      chmodSync(join(dir, 'energy_uj'), 0o400);
      const name = zone.split('/').pop() as string;
      symlinkSync(`../../devices/virtual/powercap/intel-rapl/${zone}`, join(sys, 'class/powercap', name));
    }
    // The control-type directory has no energy_uj; the loop must skip it.
    symlinkSync('../../devices/virtual/powercap/intel-rapl', join(sys, 'class/powercap/intel-rapl'));
    const result = runIt();
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    for (const zone of zones) {
      const stat = statSync(join(sys, 'devices/virtual/powercap/intel-rapl', zone, 'energy_uj'));
      expect((stat.mode & 0o777).toString(8), zone).toBe('440');
      expect(String(stat.gid), zone).toBe(gid);
    }
  });
});

describe('systemd/wattledger.sysusers.conf and wattledger.tmpfiles.conf', () => {
  const sysusers = read('systemd/wattledger.sysusers.conf');
  const tmpfiles = read('systemd/wattledger.tmpfiles.conf');
  const lines = (text: string) =>
    text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => line.split(/\s+/));

  it('sysusers creates the powercap group and the wattledger user the unit runs as', () => {
    const entries = lines(sysusers);
    expect(entries.some(([type, name]) => type === 'g' && name === 'powercap')).toBe(true);
    const user = entries.find(([type, name]) => type === 'u' && name === 'wattledger');
    expect(user).toBeDefined();
    expect(sysusers).toContain('/var/lib/wattledger');
    expect(sysusers).toContain('/usr/sbin/nologin');
  });

  it('tmpfiles only adjusts (z) energy_uj files to 0440 root:powercap', () => {
    const entries = lines(tmpfiles);
    expect(entries.length).toBeGreaterThan(0);
    for (const entry of entries) {
      expect(entry.slice(0, 1).concat(entry.slice(2, 5)), entry.join(' ')).toEqual([
        'z',
        '0440',
        'root',
        'powercap',
      ]);
      expect(entry[1]).toMatch(/^\/sys\/class\/powercap\/intel-rapl[^/]*:\*\/energy_uj$/);
    }
    expect(tmpfiles).toMatch(/ExecStartPre/);
  });

  const toolsMissing = ['systemd-sysusers', 'systemd-tmpfiles'].filter((tool) => !which(tool));
  const skipReason =
    toolsMissing.length > 0
      ? `${toolsMissing.join(', ')} not installed: sysusers/tmpfiles dry run skipped`
      : process.getuid?.() !== 0
        ? 'not root: systemd-tmpfiles cannot chown in a --root tree, sysusers/tmpfiles dry run skipped'
        : undefined;

  itUnless(skipReason)(
    'systemd-sysusers and systemd-tmpfiles apply them to a --root tree: energy_uj becomes 0440 root:powercap',
    () => {
      const fakeRoot = tempDir();
      mkdirSync(join(fakeRoot, 'etc'));
      const sysusersRun = spawnSync(
        'systemd-sysusers',
        [`--root=${fakeRoot}`, join(root, 'systemd/wattledger.sysusers.conf')],
        { encoding: 'utf8' },
      );
      expect(sysusersRun.status, sysusersRun.stderr).toBe(0);
      const group = readFileSync(join(fakeRoot, 'etc/group'), 'utf8');
      const powercap = /^powercap:x:(\d+):(.*)$/m.exec(group);
      expect(powercap?.[2]).toBe('wattledger');
      expect(readFileSync(join(fakeRoot, 'etc/passwd'), 'utf8')).toMatch(
        /^wattledger:x:\d+:\d+:[^:]*:\/var\/lib\/wattledger:\/usr\/sbin\/nologin$/m,
      );

      const zoneDir = join(fakeRoot, 'sys/devices/virtual/powercap/intel-rapl/intel-rapl:0');
      mkdirSync(join(zoneDir, 'intel-rapl:0:0'), { recursive: true });
      mkdirSync(join(fakeRoot, 'sys/class/powercap'), { recursive: true });
      for (const file of [join(zoneDir, 'energy_uj'), join(zoneDir, 'intel-rapl:0:0/energy_uj')]) {
        writeFileSync(file, '1\n');
        chmodSync(file, 0o400);
      }
      symlinkSync(
        '../../devices/virtual/powercap/intel-rapl/intel-rapl:0',
        join(fakeRoot, 'sys/class/powercap/intel-rapl:0'),
      );
      symlinkSync(
        '../../devices/virtual/powercap/intel-rapl/intel-rapl:0/intel-rapl:0:0',
        join(fakeRoot, 'sys/class/powercap/intel-rapl:0:0'),
      );
      const tmpfilesRun = spawnSync(
        'systemd-tmpfiles',
        [`--root=${fakeRoot}`, '--create', join(root, 'systemd/wattledger.tmpfiles.conf')],
        { encoding: 'utf8' },
      );
      expect(tmpfilesRun.status, tmpfilesRun.stderr).toBe(0);
      for (const file of [join(zoneDir, 'energy_uj'), join(zoneDir, 'intel-rapl:0:0/energy_uj')]) {
        const stat = statSync(file);
        expect((stat.mode & 0o777).toString(8)).toBe('440');
        expect(stat.uid).toBe(0);
        expect(String(stat.gid)).toBe(powercap?.[1]);
      }
    },
  );
});

describe('systemd-analyze on the unit', () => {
  const skipReason = which('systemd-analyze')
    ? undefined
    : 'systemd-analyze not installed: unit verification skipped';

  /** The unit in a temp dir under its own name. verify insists the ExecStart binary exists, which it
   * does not on a development machine, so that one path is swapped for /bin/true unless installed. */
  function unitCopy(): string {
    const dir = tempDir();
    const path = join(dir, 'wattledger.service');
    const text = existsSync('/usr/bin/wattledger')
      ? unitText
      : unitText.replace(/^ExecStart=\/usr\/bin\/wattledger /m, 'ExecStart=/bin/true ');
    expect(text.includes('ExecStart=/usr/bin/wattledger') && !existsSync('/usr/bin/wattledger')).toBe(false);
    writeFileSync(path, text);
    return path;
  }

  itUnless(skipReason)('systemd-analyze verify reports nothing about the unit', () => {
    const path = unitCopy();
    const result = spawnSync('systemd-analyze', ['verify', '--man=no', path], { encoding: 'utf8' });
    const aboutUnit = `${result.stdout}\n${result.stderr}`.split('\n').filter((line) => line.includes(path));
    expect(aboutUnit).toEqual([]);
    expect(result.status, result.stderr).toBe(0);
  });

  itUnless(skipReason)('systemd-analyze security --offline rates the exposure at most 1.7', (ctx) => {
    const path = unitCopy();
    const result = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', path], {
      encoding: 'utf8',
    });
    if (/unrecognized option|unknown option/i.test(result.stderr)) {
      ctx.skip('systemd-analyze security --offline needs systemd >= 250');
    }
    const exposure = /Overall exposure level for wattledger\.service: ([\d.]+)/.exec(result.stdout)?.[1];
    expect(exposure, result.stdout + result.stderr).toBeDefined();
    expect(Number(exposure)).toBeLessThanOrEqual(1.7);
    // The unit's header states the score this check measures, so the two cannot drift apart.
    expect(unitText).toContain(`rates this unit's exposure ${exposure} ("OK"`);
  });

  itUnless(skipReason)('every setting the exposure check still flags is explained in the unit', () => {
    const path = unitCopy();
    const result = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', path], {
      encoding: 'utf8',
    });
    // Lines like "✗ PrivateNetwork=   Service has access to the host's network   0.5".
    const flagged = [...result.stdout.matchAll(/^✗ ([A-Za-z]+)=\S*\s.*?\s(\d\.\d)\s*$/gmu)].map(
      (m) => [m[1] as string, m[2] as string] as const,
    );
    expect(flagged.length, result.stdout).toBeGreaterThan(0);
    const notSet = unitText.slice(unitText.indexOf('# Deliberately NOT set'));
    const explained = [...notSet.matchAll(/\[([A-Za-z]+)= (\d\.\d)\]/g)].map(
      (m) => [m[1] as string, m[2] as string] as const,
    );
    for (const [setting, weight] of flagged) {
      // The two exclusions of the allow list are explained where SystemCallFilter= is set.
      if (setting === 'SystemCallFilter') continue;
      expect(explained, `${setting}= (${weight}) is not explained`).toContainEqual([setting, weight]);
    }
  });
});

// --- example config ---------------------------------------------------------------------------------

describe('systemd/config.yaml', () => {
  const config = parseStrictYaml(read('systemd/config.yaml'));

  it('parses as a YAML mapping', () => {
    expect(isObject(config)).toBe(true);
  });

  it('holds only keys the config schema knows and validates with configSchema', () => {
    expectValidDaemonConfig(config);
  });

  it('sets every current key explicitly, so the example documents them all', () => {
    const defaults = configSchema.parse({});
    for (const section of ['probes', 'meter', 'log'] as const) {
      for (const key of Object.keys(defaults[section])) {
        if (key === 'simulated') continue; // demo-only settings, not for a production host
        expect(getPath(config, `${section}.${key}`), `${section}.${key}`).toBeDefined();
      }
    }
  });

  it('agrees with the unit: the credential path, the state directory, the host /sys and a loopback API', () => {
    const credential = /^([^:]+):/.exec(values('LoadCredential')[0] ?? '')?.[1];
    expect(getPath(config, 'keys.signingKeyPath')).toBe(`/run/credentials/wattledger.service/${credential}`);
    expect(getPath(config, 'ledger.dir')).toBe(`/var/lib/${single('StateDirectory')}`);
    expect(getPath(config, 'probes.sysfsRoot')).toBe('/sys');
    expect(String(getPath(config, 'api.listen'))).toMatch(/^127\.0\.0\.1:\d+$/);
  });
});

// --- Helm chart -------------------------------------------------------------------------------------

const SUPPORTED_KEYWORDS = new Set([
  '$schema',
  'title',
  'description',
  'type',
  'properties',
  'required',
  'additionalProperties',
  'enum',
  'minimum',
  'maximum',
  'minLength',
  'minItems',
  'pattern',
  'items',
]);

/** Keywords used anywhere in a schema that {@link validateJsonSchema} does not implement. */
function unsupportedKeywords(schema: unknown, path = '#'): string[] {
  if (!isObject(schema)) return [];
  const found = Object.keys(schema)
    .filter((key) => !SUPPORTED_KEYWORDS.has(key))
    .map((key) => `${path}/${key}`);
  if (isObject(schema.properties)) {
    for (const [key, child] of Object.entries(schema.properties))
      found.push(...unsupportedKeywords(child, `${path}/properties/${key}`));
  }
  found.push(...unsupportedKeywords(schema.items, `${path}/items`));
  found.push(...unsupportedKeywords(schema.additionalProperties, `${path}/additionalProperties`));
  return found;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** A JSON Schema validator for exactly the keywords in SUPPORTED_KEYWORDS; returns the errors. */
function validateJsonSchema(schema: Json, value: unknown, path = '$'): string[] {
  const errors: string[] = [];
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const actual = typeOf(value);
    if (!types.includes(actual) && !(actual === 'integer' && types.includes('number'))) {
      return [`${path}: expected ${types.join('|')}, found ${actual}`];
    }
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(value))
    errors.push(`${path}: ${String(value)} not in enum`);
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum)
      errors.push(`${path}: below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum)
      errors.push(`${path}: above ${schema.maximum}`);
  }
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && value.length < schema.minLength)
      errors.push(`${path}: too short`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) {
      errors.push(`${path}: does not match ${schema.pattern}`);
    }
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems)
      errors.push(`${path}: too few items`);
    if (isObject(schema.items)) {
      const items = schema.items;
      value.forEach((item, i) => {
        errors.push(...validateJsonSchema(items, item, `${path}[${i}]`));
      });
    }
  }
  if (isObject(value)) {
    const properties = isObject(schema.properties) ? schema.properties : {};
    if (Array.isArray(schema.required)) {
      for (const key of schema.required)
        if (!(String(key) in value)) errors.push(`${path}: missing ${String(key)}`);
    }
    for (const [key, child] of Object.entries(value)) {
      const sub = properties[key];
      if (isObject(sub)) errors.push(...validateJsonSchema(sub, child, `${path}.${key}`));
      else if (schema.additionalProperties === false) errors.push(`${path}: unknown key ${key}`);
      else if (isObject(schema.additionalProperties)) {
        errors.push(...validateJsonSchema(schema.additionalProperties, child, `${path}.${key}`));
      }
    }
  }
  return errors;
}

/** The parts of a JSON Schema that constrain config values, for comparing two schemas. */
function constraints(schema: unknown): unknown {
  if (!isObject(schema)) return schema;
  // zod writes a nullable field as anyOf [X, {type: null}]; the chart writes type [X, "null"].
  if (Array.isArray(schema.anyOf)) {
    const parts = schema.anyOf.map((part) => constraints(part) as Json);
    const types = parts.flatMap((part) => (Array.isArray(part.type) ? part.type : [part.type]));
    return { ...Object.assign({}, ...parts), type: types.sort() };
  }
  const out: Json = {};
  for (const key of ['type', 'minimum', 'maximum', 'minLength']) if (key in schema) out[key] = schema[key];
  if (Array.isArray(out.type)) out.type = [...out.type].sort();
  if (Array.isArray(schema.enum)) out.enum = [...schema.enum].map(String).sort();
  if (isObject(schema.properties)) {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([k, v]) => [k, constraints(v)]),
    );
  }
  return out;
}

function parseCpu(quantity: unknown): number {
  const match = /^(\d+(?:\.\d+)?)(m?)$/.exec(String(quantity));
  if (!match) throw new Error(`cpu quantity ${String(quantity)}`);
  return Number(match[1]) / (match[2] ? 1000 : 1);
}
function parseMemory(quantity: unknown): number {
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(String(quantity));
  if (!match) throw new Error(`memory quantity ${String(quantity)}`);
  return Number(match[1]) * ({ Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 }[match[2] ?? ''] ?? 1);
}

describe('helm/wattledger', () => {
  const chart = parseStrictYaml(read('helm/wattledger/Chart.yaml')) as Json;
  const valuesYaml = parseStrictYaml(read('helm/wattledger/values.yaml')) as Json;
  const schema = JSON.parse(read('helm/wattledger/values.schema.json')) as Json;
  const templates = readdirSync(join(chartDir, 'templates'));
  const template = (name: string) => read(`helm/wattledger/templates/${name}`);

  it('Chart.yaml is apiVersion v2 and its appVersion is the package version', () => {
    const pkg = JSON.parse(read('package.json')) as { version: string };
    expect(chart.apiVersion).toBe('v2');
    expect(chart.name).toBe('wattledger');
    expect(chart.appVersion).toBe('0.1.0');
    expect(chart.appVersion).toBe(pkg.version);
  });

  it('has the templates STYLE.md §G asks for', () => {
    for (const name of [
      '_helpers.tpl',
      'daemonset.yaml',
      'configmap.yaml',
      'service.yaml',
      'networkpolicy.yaml',
      'NOTES.txt',
    ]) {
      expect(templates, name).toContain(name);
    }
    expect(existsSync(join(chartDir, 'README.md'))).toBe(true);
  });

  it('values.schema.json uses only keywords this test can check', () => {
    expect(unsupportedKeywords(schema)).toEqual([]);
  });

  it('every property values.schema.json requires exists in values.yaml', () => {
    const missing: string[] = [];
    const walk = (node: unknown, value: unknown, path: string) => {
      if (!isObject(node) || !isObject(value)) return;
      for (const key of Array.isArray(node.required) ? node.required : []) {
        if (!(String(key) in value)) missing.push(`${path}.${String(key)}`);
      }
      if (isObject(node.properties)) {
        for (const [key, child] of Object.entries(node.properties)) walk(child, value[key], `${path}.${key}`);
      }
    };
    walk(schema, valuesYaml, '$');
    expect(Array.isArray(schema.required) && schema.required.length > 0).toBe(true);
    expect(missing).toEqual([]);
  });

  it('values.yaml validates against values.schema.json', () => {
    expect(validateJsonSchema(schema, valuesYaml)).toEqual([]);
  });

  it('values.schema.json rejects typos and bad config values (the check above is not vacuous)', () => {
    const bad = structuredClone(valuesYaml);
    bad.nodeselector = {};
    (bad.config as Json).probes = { ...((bad.config as Json).probes as Json), gpu: 'cuda' };
    (bad.config as Json).meter = { raplIntervalMs: 5000 };
    (bad.signingKey as Json).existingSecret = 'Not_A_Name';
    const errors = validateJsonSchema(schema, bad);
    expect(errors).toContain('$: unknown key nodeselector');
    expect(errors).toContain('$.config.probes.gpu: cuda not in enum');
    expect(errors).toContain('$.config.meter.raplIntervalMs: above 1000');
    expect(errors.some((e) => e.startsWith('$.signingKey.existingSecret: does not match'))).toBe(true);
  });

  it('the config: block is a valid daemon config with sysfsRoot /host/sys', () => {
    expectValidDaemonConfig(valuesYaml.config);
    expect(getPath(valuesYaml.config, 'probes.sysfsRoot')).toBe('/host/sys');
  });

  it("values.schema.json's config section allows exactly what the daemon's schema allows", () => {
    const chartConfig = constraints(schemaNode(schema, 'config'));
    expect(chartConfig).toEqual(constraints(daemonJsonSchema));
  });

  it('defaults are secure: non-root, no privilege, read-only root, all capabilities dropped', () => {
    const pod = valuesYaml.podSecurityContext as Json;
    const container = valuesYaml.securityContext as Json;
    expect(pod.runAsNonRoot).toBe(true);
    expect(pod.runAsUser).not.toBe(0);
    expect(container.privileged).toBe(false);
    expect(container.allowPrivilegeEscalation).toBe(false);
    expect(container.readOnlyRootFilesystem).toBe(true);
    expect(getPath(container, 'capabilities.drop')).toEqual(['ALL']);
    expect(valuesYaml.automountServiceAccountToken).toBe(false);
    // The host /sys is mounted read-only.
    expect(template('daemonset.yaml')).toMatch(
      /- name: host-sys\n\s+mountPath: \{\{ include "wattledger\.sysfsRoot" \. \}\}\n\s+readOnly: true/,
    );
  });

  it('takes the signing key only from an existing Secret and never generates one', () => {
    expect(valuesYaml.signingKey).toMatchObject({ existingSecret: '' });
    for (const name of templates) {
      const text = template(name);
      expect(text, name).not.toMatch(/^kind:\s*Secret/m);
      expect(text, name).not.toMatch(/genPrivateKey|randAlphaNum|randBytes|genCA|genSelfSignedCert/);
    }
    expect(template('daemonset.yaml')).toMatch(/secretName: \{\{ \.Values\.signingKey\.existingSecret \}\}/);
  });

  it('targets GPU nodes through the NVIDIA runtime, configurable, without requesting a GPU', () => {
    expect(valuesYaml.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(valuesYaml.tolerations).toContainEqual(expect.objectContaining({ key: 'nvidia.com/gpu' }));
    expect(valuesYaml.runtimeClassName).toBe('nvidia');
    expect(valuesYaml.nvidia).toEqual({ visibleDevices: 'all', driverCapabilities: 'utility' });
    const daemonset = template('daemonset.yaml');
    expect(daemonset).toContain('runtimeClassName: {{ . }}');
    expect(daemonset).toContain('NVIDIA_VISIBLE_DEVICES');
    expect(daemonset).toContain('NVIDIA_DRIVER_CAPABILITIES');
    expect(JSON.stringify(valuesYaml.resources)).not.toContain('nvidia.com/gpu');
  });

  it('sizes resources for <1% of a core and <100 MiB', () => {
    const requests = getPath(valuesYaml, 'resources.requests') as Json;
    const limits = getPath(valuesYaml, 'resources.limits') as Json;
    expect(parseCpu(requests.cpu)).toBeLessThanOrEqual(0.01);
    expect(parseMemory(requests.memory)).toBeLessThan(100 * 2 ** 20);
    expect(parseMemory(limits.memory)).toBeGreaterThanOrEqual(parseMemory(requests.memory));
    expect(parseMemory(limits.memory)).toBeLessThanOrEqual(256 * 2 ** 20);
  });

  it('rolls pods on config change and keeps probes, port and Service behind api.enabled (off)', () => {
    const daemonset = template('daemonset.yaml');
    expect(daemonset).toMatch(
      /checksum\/config: \{\{ include \(print \$\.Template\.BasePath "\/configmap\.yaml"\) \. \| sha256sum \}\}/,
    );
    expect(getPath(valuesYaml, 'api.enabled')).toBe(false);
    expect(getPath(valuesYaml, 'api.livenessProbe.httpGet.path')).toBe('/healthz');
    expect(getPath(valuesYaml, 'api.readinessProbe.httpGet.path')).toBe('/readyz');
    const gate = daemonset.indexOf('{{- if .Values.api.enabled }}');
    expect(gate).toBeGreaterThan(0);
    for (const needle of ['containerPort:', 'livenessProbe:', 'readinessProbe:']) {
      expect(daemonset.indexOf(needle), needle).toBeGreaterThan(gate);
    }
    expect(template('service.yaml')).toMatch(/^\{\{- if \.Values\.api\.enabled \}\}/);
    expect(template('service.yaml')).toContain('type: ClusterIP');
    expect(template('networkpolicy.yaml')).toMatch(/^\{\{- if \.Values\.networkPolicy\.enabled \}\}/);
    expect(getPath(valuesYaml, 'networkPolicy.enabled')).toBe(false);
  });

  it('every template has balanced {{ }} and block/end actions', () => {
    for (const name of templates) {
      const text = template(name).replace(/\{\{-?\s*\/\*[\s\S]*?\*\/\s*-?\}\}/g, '');
      expect(text.split('{{').length, `${name}: {{ vs }}`).toBe(text.split('}}').length);
      let depth = 0;
      for (const match of text.matchAll(/\{\{-?\s*(\w+)/g)) {
        const word = match[1];
        if (word === 'if' || word === 'with' || word === 'range' || word === 'define' || word === 'block')
          depth++;
        if (word === 'end') depth--;
        expect(depth, `${name}: end without opening`).toBeGreaterThanOrEqual(0);
      }
      expect(depth, `${name}: unclosed block`).toBe(0);
    }
  });

  const helm = which('helm');
  const helmSkip = helm
    ? undefined
    : 'helm not installed (scripts/install-helm.sh installs it): helm lint/template tests skipped';

  const helmRun = (...args: string[]) => spawnSync('helm', args, { encoding: 'utf8', cwd: root });
  const render = (...sets: string[]) => {
    const result = helmRun(
      'template',
      'wl',
      chartDir,
      '--namespace',
      'energy',
      ...sets.flatMap((s) => ['--set', s]),
    );
    expect(result.status, result.stderr).toBe(0);
    const docs = parseAllDocuments(result.stdout)
      .map((doc) => doc.toJS() as Json)
      .filter(isObject);
    const byKind = (kind: string) => docs.filter((doc) => doc.kind === kind);
    return { docs, byKind };
  };

  itUnless(helmSkip)('helm lint passes', () => {
    const result = helmRun('lint', chartDir);
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });

  itUnless(helmSkip)('helm template renders a DaemonSet whose ConfigMap is a valid daemon config', () => {
    const { docs, byKind } = render();
    expect(docs.map((doc) => doc.kind).sort()).toEqual(['ConfigMap', 'DaemonSet', 'ServiceAccount']);
    // `config.yaml` contains a dot, so it is read directly rather than with getPath.
    const data = (byKind('ConfigMap')[0]?.data ?? {}) as Json;
    const rendered = parseStrictYaml(String(data['config.yaml']));
    expectValidDaemonConfig(rendered);
    expect(getPath(rendered, 'probes.sysfsRoot')).toBe('/host/sys');
    const pod = getPath(byKind('DaemonSet')[0], 'spec.template') as Json;
    expect(getPath(pod, 'metadata.annotations.checksum/config')).toMatch(/^[0-9a-f]{64}$/);
    const container = (getPath(pod, 'spec.containers') as Json[])[0] as Json;
    expect(container.args).toEqual(['run', '--config', '/etc/wattledger/config.yaml']);
    expect(container.livenessProbe).toBeUndefined();
    const mounts = container.volumeMounts as Json[];
    expect(mounts).toContainEqual(
      expect.objectContaining({ name: 'host-sys', mountPath: '/host/sys', readOnly: true }),
    );
    expect(getPath(pod, 'spec.runtimeClassName')).toBe('nvidia');
  });

  itUnless(helmSkip)(
    'helm template with the API and a key: probes, Service, NetworkPolicy, and matching config paths',
    () => {
      const { byKind } = render(
        'api.enabled=true',
        'signingKey.existingSecret=wl-key',
        'networkPolicy.enabled=true',
      );
      expect(byKind('Service')).toHaveLength(1);
      expect(getPath(byKind('Service')[0], 'spec.type')).toBe('ClusterIP');
      expect(byKind('NetworkPolicy')).toHaveLength(1);
      const data = (byKind('ConfigMap')[0]?.data ?? {}) as Json;
      const rendered = parseStrictYaml(String(data['config.yaml']));
      expectValidDaemonConfig(rendered);
      expect(getPath(rendered, 'api.listen')).toBe('0.0.0.0:9464');
      // The key is found through CREDENTIALS_DIRECTORY, so fsGroup's group read is accepted.
      expect(getPath(rendered, 'keys.signingKeyPath')).toBeUndefined();
      const container = (
        getPath(byKind('DaemonSet')[0], 'spec.template.spec.containers') as Json[]
      )[0] as Json;
      expect(getPath(container, 'livenessProbe.httpGet.path')).toBe('/healthz');
      expect(getPath(container, 'readinessProbe.httpGet.path')).toBe('/readyz');
      expect(container.volumeMounts).toContainEqual(
        expect.objectContaining({ name: 'signing-key', mountPath: '/etc/wattledger/keys', readOnly: true }),
      );
    },
  );

  itUnless(helmSkip)('helm template refuses sysfsRoot /sys and a value outside the schema', () => {
    expect(helmRun('template', 'wl', chartDir, '--set', 'config.probes.sysfsRoot=/sys').status).not.toBe(0);
    expect(helmRun('template', 'wl', chartDir, '--set', 'config.probes.gpu=cuda').status).not.toBe(0);
  });
});
