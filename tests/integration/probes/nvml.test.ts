import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProbeError } from '../../../src/errors.js';
import { isGa100, NvmlProbe, powerUsageSemantics } from '../../../src/probes/nvml.js';
import { buildFakeNvml, FakeNvmlState, fakeNvmlSkipReason } from '../../helpers/fake-nvml.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { describeUnless } from '../../helpers/skip.js';

// Open, inventory and power-semantics behaviour of the NVML probe, through real koffi against the
// fake libnvidia-ml.so.1. Reading behaviour lives in nvml-read.test.ts.

const skipReason = fakeNvmlSkipReason();

describeUnless(skipReason)('NvmlProbe.open against a fake libnvidia-ml.so.1', () => {
  let libraryPath: string;
  let state: FakeNvmlState;
  const probes: NvmlProbe[] = [];

  beforeAll(async () => {
    libraryPath = await buildFakeNvml();
  });

  afterEach(async () => {
    for (const probe of probes.splice(0)) await probe.close();
    await state.cleanup();
  });

  async function withGpus(count: number): Promise<FakeNvmlState> {
    state = await FakeNvmlState.create(count);
    state.activate();
    return state;
  }

  function makeProbe(path = libraryPath): NvmlProbe {
    const probe = new NvmlProbe({ libraryPath: path, clock: new ManualClock() });
    probes.push(probe);
    return probe;
  }

  it('enumerates every gpu with uuid, name, serial, bus id, power limit, memory and versions', async () => {
    await withGpus(2);
    const inventory = await makeProbe().open();
    expect(inventory.devices).toHaveLength(2);
    expect(inventory.devices[1]).toEqual({
      id: 'GPU-5a8c1f0e-7b2d-4c3a-9e1f-000000000001',
      probe: 'nvml',
      hwType: 'gpu',
      name: 'NVIDIA H200',
      vendor: 'NVIDIA',
      index: 1,
      serial: '1654123456781',
      pciBusId: '00000000:84:00.0',
      powerLimitMilliWatts: 700_000,
      hasEnergyCounter: true,
      powerSemantics: 'instant',
      migMode: 'disabled',
      driverVersion: '590.48.01',
      simulated: false,
      details: {
        architecture: 'hopper',
        memoryTotalBytes: String(143_771n * 1_048_576n),
        pciDeviceId: '0x233510DE',
        powerSource: 'field:NVML_FI_DEV_POWER_INSTANT',
        driverVersion: '590.48.01',
        nvmlVersion: '13.590.48.01',
        cudaDriverVersion: '13.1',
      },
    });
    expect(inventory.details).toEqual({
      libraryPath,
      deviceCount: '2',
      driverVersion: '590.48.01',
      nvmlVersion: '13.590.48.01',
      cudaDriverVersion: '13.1',
    });
    expect(inventory.notes).toEqual([]);
  });

  it('prefers the instantaneous power field when NVML_FI_DEV_POWER_INSTANT works', async () => {
    await withGpus(1);
    const [device] = (await makeProbe().open()).devices;
    expect(device?.powerSemantics).toBe('instant');
    expect(device?.details.powerSource).toBe('field:NVML_FI_DEV_POWER_INSTANT');
  });

  it('falls back to the 1 s averaged GetPowerUsage on Hopper when the instant field is unsupported', async () => {
    await (await withGpus(1)).setGpu(0, { instantMilliWatts: null });
    const [device] = (await makeProbe().open()).devices;
    expect(device?.powerSemantics).toBe('average-1s');
    expect(device?.details.powerSource).toBe('nvmlDeviceGetPowerUsage');
  });

  it('treats GetPowerUsage as instantaneous on a GA100 and on a pre-Ampere gpu', async () => {
    const fake = await withGpus(3);
    await fake.setGpu(0, {
      instantMilliWatts: null,
      arch: 7,
      name: 'NVIDIA A100-SXM4-80GB',
      pciDeviceId: 0x20b210de,
    });
    await fake.setGpu(1, { instantMilliWatts: null, arch: 6, name: 'Tesla T4', pciDeviceId: 0x1eb810de });
    await fake.setGpu(2, { instantMilliWatts: null, arch: 7, name: 'NVIDIA A10G', pciDeviceId: 0x223710de });
    const devices = (await makeProbe().open()).devices;
    expect(devices.map((d) => d.powerSemantics)).toEqual(['instant', 'instant', 'average-1s']);
  });

  it('reports no power semantics for a gpu without any power reading', async () => {
    await (await withGpus(1)).setGpu(0, { instantMilliWatts: null, powerMilliWatts: null });
    const [device] = (await makeProbe().open()).devices;
    expect(device?.powerSemantics).toBeUndefined();
    expect(device?.details.powerSource).toBe('none');
  });

  it('reports hasEnergyCounter false when the energy counter is not supported', async () => {
    await (await withGpus(1)).setEnergyMilliJoules(0, null);
    const [device] = (await makeProbe().open()).devices;
    expect(device?.hasEnergyCounter).toBe(false);
  });

  it('reports mig mode enabled, disabled, and absent on a gpu without mig', async () => {
    const fake = await withGpus(3);
    await fake.setGpu(0, { mig: 1 });
    await fake.setGpu(2, { mig: null });
    const devices = (await makeProbe().open()).devices;
    expect(devices.map((d) => d.migMode)).toEqual(['enabled', 'disabled', undefined]);
    expect('migMode' in (devices[2] ?? {})).toBe(false);
  });

  it('leaves out facts the gpu does not support instead of failing', async () => {
    await (await withGpus(1)).setGpu(0, {
      serial: null,
      pciBusId: null,
      powerLimitMilliWatts: null,
      arch: null,
    });
    const [device] = (await makeProbe().open()).devices;
    expect(device).not.toHaveProperty('serial');
    expect(device).not.toHaveProperty('pciBusId');
    expect(device).not.toHaveProperty('powerLimitMilliWatts');
    expect(device?.details).not.toHaveProperty('architecture');
  });

  it('skips a gpu whose handle cannot be obtained and says why in the notes', async () => {
    await (await withGpus(2)).setFail(0, 4, ['nvmlDeviceGetHandleByIndex']);
    const inventory = await makeProbe().open();
    expect(inventory.devices.map((d) => d.index)).toEqual([1]);
    expect(inventory.notes).toEqual([
      'skipped gpu index 0: nvmlDeviceGetHandleByIndex_v2 failed for gpu index 0: nvml returned 4 (NVML_NO_PERMISSION): "Insufficient Permissions"',
    ]);
  });

  it('skips a gpu that is lost during enumeration', async () => {
    await (await withGpus(2)).setFail(1, 15, ['nvmlDeviceGetName']);
    const inventory = await makeProbe().open();
    expect(inventory.devices.map((d) => d.index)).toEqual([0]);
    expect(inventory.notes[0]).toMatch(/^skipped gpu index 1: nvmlDeviceGetName failed .*NVML_GPU_IS_LOST/);
  });

  it('throws PROBE_NO_DEVICES when nvml counts zero gpus, and shuts nvml down again', async () => {
    const fake = await withGpus(0);
    await fake.enableTrace();
    const error = await makeProbe()
      .open()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProbeError);
    expect((error as ProbeError).code).toBe('PROBE_NO_DEVICES');
    expect((await fake.calls()).filter((c) => c.startsWith('nvmlShutdown'))).toHaveLength(1);
  });

  it('throws PROBE_NO_DEVICES naming the reasons when every gpu is skipped', async () => {
    await (await withGpus(1)).setFail(0, 999, ['nvmlDeviceGetHandleByIndex']);
    await expect(makeProbe().open()).rejects.toMatchObject({
      code: 'PROBE_NO_DEVICES',
      message: expect.stringContaining('NVML_UNKNOWN'),
    });
  });

  it('throws PROBE_UNAVAILABLE with the path and a config hint when the library does not exist', async () => {
    await withGpus(1);
    const error = (await makeProbe('/nonexistent/libnvidia-ml.so.1')
      .open()
      .catch((e: unknown) => e)) as ProbeError;
    expect(error.code).toBe('PROBE_UNAVAILABLE');
    expect(error.message).toMatch(
      /^cannot load nvml library \/nonexistent\/libnvidia-ml\.so\.1: .*No such file/,
    );
    expect(error.hint).toContain('probes.nvmlLibraryPath');
  });

  it('throws PROBE_UNAVAILABLE for a library that is not nvml', async () => {
    await withGpus(1);
    // glibc's libc.so.6 loads fine but exports no nvml symbol.
    await expect(makeProbe('libc.so.6').open()).rejects.toMatchObject({
      code: 'PROBE_UNAVAILABLE',
      message: 'nvml library libc.so.6 lacks nvmlInit_v2',
    });
  });

  it.each([
    [9, 'NVML_DRIVER_NOT_LOADED', /modprobe nvidia/],
    [18, 'NVML_LIB_RM_VERSION_MISMATCH', /reload the nvidia kernel module after a driver upgrade/],
  ])('maps nvmlInit returning %i to %s with an operator hint', async (ret, code, hint) => {
    await (await withGpus(1)).setInitFail(ret);
    const error = (await makeProbe()
      .open()
      .catch((e: unknown) => e)) as ProbeError;
    expect(error).toMatchObject({ code, nvmlReturn: ret });
    expect(error.message).toMatch(new RegExp(`^nvmlInit_v2 failed: nvml returned ${ret} \\(${code}\\)`));
    expect(error.hint).toMatch(hint);
  });

  it('falls back to unversioned symbols and GetPowerUsage on an older driver and notes what is missing', async () => {
    const legacyPath = await buildFakeNvml('legacy');
    const fake = await withGpus(1);
    await fake.enableTrace();
    const inventory = await makeProbe(legacyPath).open();
    expect(inventory.devices[0]?.details.powerSource).toBe('nvmlDeviceGetPowerUsage');
    expect(inventory.devices[0]?.pciBusId).toBe('00000000:83:00.0');
    expect(inventory.notes).toContain(
      'nvml library lacks nvmlDeviceGetFieldValues; its readings are omitted',
    );
    const calls = await fake.calls();
    expect(calls).toContain('nvmlInit -1');
    expect(calls).toContain('nvmlDeviceGetHandleByIndex 0');
  });

  it('calls nvmlShutdown exactly once however often close is called', async () => {
    const fake = await withGpus(1);
    await fake.enableTrace();
    const probe = makeProbe();
    await probe.open();
    await probe.close();
    await probe.close();
    expect((await fake.calls()).filter((c) => c.startsWith('nvmlShutdown'))).toEqual(['nvmlShutdown -1']);
    await expect(probe.read(new AbortController().signal)).rejects.toMatchObject({
      code: 'PROBE_UNAVAILABLE',
    });
  });
});

describe('the GA100 rule for GetPowerUsage semantics', () => {
  it('recognises GA100 by pci device id 0x20B0..0x20BF and by A100, A800 and A30 names', () => {
    expect(isGa100(0x20b010de, 'anything')).toBe(true);
    expect(isGa100(0x20bf10de, 'anything')).toBe(true);
    expect(isGa100(undefined, 'NVIDIA A100 80GB PCIe')).toBe(true);
    expect(isGa100(undefined, 'NVIDIA A800-SXM4-80GB')).toBe(true);
    expect(isGa100(undefined, 'NVIDIA A30')).toBe(true);
  });

  it('does not mistake an RTX A3000 or an A10G for a GA100', () => {
    expect(isGa100(0x24b810de, 'NVIDIA RTX A3000 Laptop GPU')).toBe(false);
    expect(isGa100(0x223710de, 'NVIDIA A10G')).toBe(false);
  });

  it('calls GetPowerUsage averaged on Ampere and newer except GA100, and instant otherwise', () => {
    expect(powerUsageSemantics(9, 0x233510de, 'NVIDIA H200')).toBe('average-1s');
    expect(powerUsageSemantics(8, undefined, 'NVIDIA L40S')).toBe('average-1s');
    expect(powerUsageSemantics(7, 0x20b210de, 'NVIDIA A100-SXM4-80GB')).toBe('instant');
    expect(powerUsageSemantics(5, undefined, 'Tesla V100-SXM2-16GB')).toBe('instant');
    expect(powerUsageSemantics(undefined, undefined, 'unknown')).toBe('instant');
    expect(powerUsageSemantics(0xffffffff, undefined, 'unknown')).toBe('instant');
  });
});
