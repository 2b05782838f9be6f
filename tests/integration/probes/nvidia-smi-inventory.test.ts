import { readdirSync, readFileSync } from 'node:fs';
import { readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ProbeError } from '../../../src/errors.js';
import { queryInventory, type SmiInventory } from '../../../src/probes/nvidia-smi-inventory.js';
import {
  FAKE_NVIDIA_SMI,
  type FakeSmiScenario,
  fakeNvidiaSmi,
  SMI_XML_FIXTURES,
  smiXmlPath,
} from '../../helpers/fake-nvidia-smi.js';
import { FIXTURES } from '../../helpers/fixtures.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

// Every `-q -x` document here is a real capture from tests/fixtures/nvidia-smi-xml, replayed by
// the fake nvidia-smi and parsed by xml2js as the probe does. Provenance of each file: SOURCES.md,
// section "nvidia-smi-xml/" (influxdata/telegraf testdata, MIT).

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function inventoryOf(scenario: FakeSmiScenario): Promise<SmiInventory> {
  const fake = await fakeNvidiaSmi(scenario);
  cleanups.push(fake.cleanup);
  return queryInventory({ nvidiaSmiPath: fake.nvidiaSmiPath, env: fake.env, timeoutMs: 10_000 });
}

const watts = (milliWatts: number) => ({ kind: 'value', value: milliWatts });
const MiB = (n: bigint) => n * 1_048_576n;

describe('queryInventory over the real -q -x fixtures', () => {
  it('reads the MIG-enabled A100 (535, <gpu_power_readings><power_draw> + current_power_limit)', async () => {
    const inventory = await inventoryOf({ xml: SMI_XML_FIXTURES.a100Mig });
    expect(inventory.driverVersion).toBe('535.54.03');
    expect(inventory.cudaVersion).toBe('12.2');
    // The contributor trimmed the file to one <gpu> but left attached_gpus at 4.
    expect(inventory.gpus).toHaveLength(1);
    expect(inventory.notes).toEqual(['nvidia-smi reports attached_gpus 4 but lists 1 <gpu> elements']);
    expect(inventory.gpus[0]).toEqual({
      index: 0,
      uuid: 'GPU-513536b6-7d19-9063-b049-1e69664bb298',
      name: 'NVIDIA A100-SXM4-80GB',
      serial: '1650522003820',
      pciBusId: '00000000:01:00.0',
      architecture: 'Ampere',
      memoryTotalBytes: MiB(81_920n),
      migMode: 'enabled',
      migDeviceCount: 4,
      power: {
        layout: 'gpu_power_readings',
        powerState: { kind: 'value', value: 'P0' },
        drawMilliWatts: watts(67_030),
        averageMilliWatts: undefined,
        instantMilliWatts: undefined,
        limitMilliWatts: watts(500_000),
      },
    });
  });

  it.each([
    ['teslaT4', 'Tesla T4', 'GPU-d37e67a5-91dd-3774-a5cb-99096249601a', 'P0', 26_780, 70_000, 15_360n],
    ['a10g', 'NVIDIA A10G', 'GPU-9a9a6c50-2a47-2f51-a902-b82c3b127e94', 'P8', 25_580, 300_000, 23_028n],
  ] as const)(
    'reads the %s (515, <power_readings> + enforced_power_limit)',
    async (key, name, uuid, pstate, draw, limit, mib) => {
      const inventory = await inventoryOf({ xml: SMI_XML_FIXTURES[key] });
      expect(inventory.driverVersion).toBe('515.105.01');
      expect(inventory.notes).toEqual([]);
      expect(inventory.gpus).toHaveLength(1);
      expect(inventory.gpus[0]).toMatchObject({
        index: 0,
        uuid,
        name,
        serial: '0000000000000',
        pciBusId: '00000000:00:1E.0',
        memoryTotalBytes: MiB(mib),
        migMode: undefined,
        migDeviceCount: 0,
        power: {
          layout: 'power_readings',
          powerState: { kind: 'value', value: pstate },
          drawMilliWatts: watts(draw),
          averageMilliWatts: undefined,
          instantMilliWatts: undefined,
          limitMilliWatts: watts(limit),
        },
      });
    },
  );

  it('reads both GPUs of the dual RTX A5000 (590, v13, average/instant, deprecated power_state)', async () => {
    const inventory = await inventoryOf({ xml: SMI_XML_FIXTURES.dualA5000 });
    expect(inventory.driverVersion).toBe('590.44.01');
    expect(inventory.gpus).toHaveLength(2);
    const deprecated = {
      kind: 'unavailable',
      reason: 'Requested functionality has been deprecated',
      category: 'not-supported',
    };
    expect(inventory.gpus.map((g) => [g.index, g.uuid, g.serial, g.pciBusId, g.name])).toEqual([
      [
        0,
        'GPU-12345678-aaaa-bbbb-cccc-0123456789ab',
        '0123456789012',
        '00000000:81:00.0',
        'NVIDIA RTX A5000',
      ],
      [
        1,
        'GPU-12345678-aaaa-bbbb-cccc-0123456789cd',
        '1234567890123',
        '00000000:C1:00.0',
        'NVIDIA RTX A5000',
      ],
    ]);
    expect(inventory.gpus.map((g) => g.power)).toEqual([
      {
        layout: 'gpu_power_readings',
        powerState: deprecated,
        drawMilliWatts: undefined,
        averageMilliWatts: watts(6_410),
        instantMilliWatts: watts(6_520),
        limitMilliWatts: watts(230_000),
      },
      {
        layout: 'gpu_power_readings',
        powerState: deprecated,
        drawMilliWatts: undefined,
        averageMilliWatts: watts(13_600),
        instantMilliWatts: watts(13_590),
        limitMilliWatts: watts(230_000),
      },
    ]);
    expect(inventory.gpus.every((g) => g.migMode === undefined && g.memoryTotalBytes === MiB(24_564n))).toBe(
      true,
    );
  });

  it('keys on element names, not the DTD: the RTX 3060 declares v12 but has average/instant (570)', async () => {
    const inventory = await inventoryOf({ xml: SMI_XML_FIXTURES.rtx3060 });
    expect(inventory.driverVersion).toBe('570.124.04');
    expect(inventory.gpus[0]).toMatchObject({
      uuid: 'GPU-d6889ff6-2523-9142-ca3c-1ca3f396a625',
      name: 'NVIDIA GeForce RTX 3060',
      serial: undefined, // <serial>N/A</serial>
      pciBusId: '00000000:2D:00.0',
      memoryTotalBytes: MiB(12_288n),
      power: {
        drawMilliWatts: undefined,
        averageMilliWatts: watts(11_600),
        instantMilliWatts: watts(11_630),
        limitMilliWatts: watts(170_000),
      },
    });
  });

  it('reads the RTX 4000 SFF Ada (595, v13)', async () => {
    const inventory = await inventoryOf({ xml: SMI_XML_FIXTURES.rtx4000Ada });
    expect(inventory.driverVersion).toBe('595.84');
    expect(inventory.gpus).toHaveLength(1);
    expect(inventory.gpus[0]).toMatchObject({
      uuid: 'GPU-37037c3f-65c8-ec4d-24a9-420204ad8026',
      name: 'NVIDIA RTX 4000 SFF Ada Generation',
      serial: 'REDACTED',
      pciBusId: '00000000:06:00.0',
      migMode: undefined,
      power: {
        averageMilliWatts: watts(8_810),
        instantMilliWatts: watts(8_440),
        limitMilliWatts: watts(70_000),
      },
    });
  });
});

describe('queryInventory failures and environment', () => {
  it('fails with PROBE_UNAVAILABLE naming probes.nvidiaSmiPath when the binary is missing', async () => {
    const error = await queryInventory({ nvidiaSmiPath: '/nonexistent/nvidia-smi' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProbeError);
    expect(error).toMatchObject({
      code: 'PROBE_UNAVAILABLE',
      hint: expect.stringContaining('probes.nvidiaSmiPath'),
    });
    expect((error as ProbeError).message).toContain('/nonexistent/nvidia-smi');
  });

  it('fails with PROBE_UNAVAILABLE and the driver message when nvidia-smi exits non-zero', async () => {
    const stderr = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.";
    const error = await inventoryOf({ failXml: { code: 9, stderr } }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'PROBE_UNAVAILABLE' });
    expect((error as ProbeError).message).toContain('failed');
  });

  it('keeps a stderr warning with exit 0 and a complete document as a note, not a failure', async () => {
    const warning = 'WARNING: infoROM is corrupted at gpu 0000:83:00.0';
    const inventory = await inventoryOf({ xml: SMI_XML_FIXTURES.teslaT4, stderrNoise: { xml: warning } });
    expect(inventory.gpus.map((g) => g.name)).toEqual(['Tesla T4']);
    expect(inventory.notes.join('\n')).toContain(warning);
  });

  it('kills a hung -q -x child and its process group on timeout', async () => {
    const tmp = await makeTmpDir();
    cleanups.push(tmp.cleanup);
    const childPidFile = join(tmp.dir, 'grandchild.pid');
    const fake = await fakeNvidiaSmi({ hangXml: { childPidFile } });
    cleanups.push(fake.cleanup);
    const error = await queryInventory({
      nvidiaSmiPath: fake.nvidiaSmiPath,
      env: fake.env,
      timeoutMs: 1_500,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'PROBE_TIMEOUT' });
    expect((error as ProbeError).message).toContain('did not answer within 1500 ms; killed it');
    // The grandchild the fake forked (a wrapper script's real nvidia-smi) went with the group.
    const pid = Number(await readFile(childPidFile, 'utf8'));
    await waitUntil(() => !isAlive(pid));
    expect(isAlive(pid)).toBe(false);
  });

  it('fails with PROBE_PARSE_FAILED, not a crash, when the document is not XML', async () => {
    const tmp = await makeTmpDir();
    cleanups.push(tmp.cleanup);
    const xml = join(tmp.dir, 'truncated.xml');
    const t4 = readFileSync(smiXmlPath(SMI_XML_FIXTURES.teslaT4), 'utf8');
    await writeFile(xml, t4.slice(0, 5_000));
    await expect(inventoryOf({ xml })).rejects.toMatchObject({ code: 'PROBE_PARSE_FAILED' });
  });

  it('leaves PATH and the scenario variable of process.env as they were', async () => {
    const before = { PATH: process.env.PATH, FAKE_SMI_SCENARIO: process.env.FAKE_SMI_SCENARIO };
    await inventoryOf({ xml: SMI_XML_FIXTURES.teslaT4 });
    expect({ PATH: process.env.PATH, FAKE_SMI_SCENARIO: process.env.FAKE_SMI_SCENARIO }).toEqual(before);
  });

  it('uses a binary already named nvidia-smi from its own directory', async () => {
    const fake = await fakeNvidiaSmi({ xml: SMI_XML_FIXTURES.a10g });
    const dir = await makeTmpDir();
    cleanups.push(fake.cleanup, dir.cleanup);
    await symlink(FAKE_NVIDIA_SMI, join(dir.dir, 'nvidia-smi'));
    const inventory = await queryInventory({ nvidiaSmiPath: join(dir.dir, 'nvidia-smi'), env: fake.env });
    expect(inventory.gpus[0]?.name).toBe('NVIDIA A10G');
  });
});

/** Running (a zombie nobody reaped yet counts as dead: in a container PID 1 may never reap it). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** Polls (the kernel delivers SIGKILL asynchronously); gives up after 3 s. */
async function waitUntil(predicate: () => boolean): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (!predicate() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

describe('queryInventory on every recorded document and on big nodes', () => {
  const files = readdirSyncXml();
  it.each(files)('lists every <gpu> of %s with its UUID', async (file) => {
    const text = readFileSync(smiXmlPath(file), 'utf8');
    const uuids = [...text.matchAll(/<uuid>([^<]+)<\/uuid>/g)].map((m) => m[1]);
    const inventory = await inventoryOf({ xml: file });
    expect(inventory.gpus.map((g) => g.uuid)).toEqual(uuids);
    expect(uuids.length).toBeGreaterThan(0);
  });

  it('lists the GT 1030 whose every power reading is N/A, with the reason and no watts', async () => {
    const inventory = await inventoryOf({ xml: SMI_XML_FIXTURES.gt1030PowerNa });
    expect(inventory.gpus).toHaveLength(1);
    expect(inventory.gpus[0]).toMatchObject({ name: 'NVIDIA GeForce GT 1030', architecture: undefined });
    expect(inventory.gpus[0]?.power?.drawMilliWatts).toEqual({
      kind: 'unavailable',
      reason: 'N/A',
      category: 'not-applicable',
    });
  });

  it('reads 16 Blackwell GPUs from a document over 1 MiB', async () => {
    const fake = await fakeNvidiaSmi({ xml: SMI_XML_FIXTURES.blackwell, xmlGpuCount: 16 });
    cleanups.push(fake.cleanup);
    const inventory = await queryInventory({ nvidiaSmiPath: fake.nvidiaSmiPath, env: fake.env });
    expect(inventory.gpus).toHaveLength(16);
    expect(new Set(inventory.gpus.map((g) => g.uuid)).size).toBe(16);
    expect(inventory.gpus.every((g) => g.architecture === 'Blackwell')).toBe(true);
    expect(inventory.gpus[15]).toMatchObject({ index: 15, pciBusId: '00000000:1F:00.0' });
    expect(inventory.notes).toEqual([]);
  });

  it('refuses a document larger than maxOutputBytes with PROBE_PARSE_FAILED', async () => {
    const fake = await fakeNvidiaSmi({ xml: SMI_XML_FIXTURES.blackwell, xmlGpuCount: 16 });
    cleanups.push(fake.cleanup);
    const options = { nvidiaSmiPath: fake.nvidiaSmiPath, env: fake.env, maxOutputBytes: 1024 * 1024 };
    await expect(queryInventory(options)).rejects.toMatchObject({ code: 'PROBE_PARSE_FAILED' });
  });
});

function readdirSyncXml(): string[] {
  return readdirSync(`${FIXTURES}nvidia-smi-xml`)
    .filter((f) => f.endsWith('.xml'))
    .sort();
}
