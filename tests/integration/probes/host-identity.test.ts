/**
 * Host identity through the real `systeminformation` on this machine, plus stand-ins for that
 * library (the process boundary: it shells out to dmidecode and friends) to simulate containers,
 * hangs and failures.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type HostFactsSource,
  hostIdentityFromFacts,
  readHostIdentity,
} from '../../../src/probes/host-identity.js';
import { itUnless } from '../../helpers/skip.js';

/** The app id pinned in host-identity.ts; changing it would change every machine-id hostId. */
const APP_ID = 'eaf739f9c5684e4fbb9f62d7c8b4de81';

/** What systeminformation 5.33.26 returned in this project's Docker container on KVM (recorded). */
const CONTAINER_FACTS = {
  system: {
    manufacturer: '',
    model: 'Docker Container',
    version: '',
    serial: '-',
    uuid: '',
    sku: '-',
    virtual: true,
    virtualHost: 'KVM',
  },
  uuid: { os: '3d1219c7c4c5404aaa1f6d2a48adfda4', hardware: '', macs: ['02:fc:00:00:00:01'] },
  os: {
    platform: 'linux',
    distro: 'Debian GNU/Linux',
    release: '12',
    kernel: '6.18.44-fc-v657',
    arch: 'x64',
    hostname: 'vm',
  },
  cpu: { manufacturer: 'AMD', brand: 'EPYC', family: '25', model: '17', cores: 2, physicalCores: 2 },
};

function systemdAppSpecificId(): string | undefined {
  try {
    return execFileSync('systemd-id128', ['machine-id', `--app-specific=${APP_ID}`, '--uuid'], {
      encoding: 'utf8',
      timeout: 5000,
    }).trim();
  } catch {
    return undefined;
  }
}

function sourceWith(overrides: Partial<HostFactsSource>): HostFactsSource {
  return {
    system: async () => CONTAINER_FACTS.system,
    uuid: async () => CONTAINER_FACTS.uuid,
    osInfo: async () => CONTAINER_FACTS.os,
    cpu: async () => CONTAINER_FACTS.cpu,
    ...overrides,
  };
}

describe('readHostIdentity on this machine', () => {
  it('returns a frozen identity of non-empty plain strings without throwing', async () => {
    const identity = await readHostIdentity({ timeoutMs: 10_000 });
    expect(Object.isFrozen(identity)).toBe(true);
    expect(['system-uuid', 'machine-id', 'hostname']).toContain(identity.hostIdSource);
    for (const [key, value] of Object.entries(identity)) {
      expect(typeof value, key).toBe('string');
      expect(value.length, key).toBeGreaterThan(0);
    }
  });

  const machineIdOnly = !existsSync('/etc/machine-id') || existsSync('/sys/class/dmi/id/product_uuid');
  itUnless(
    machineIdOnly
      ? 'this host has a DMI product UUID (or no /etc/machine-id), so the machine-id path is not taken'
      : systemdAppSpecificId() === undefined
        ? 'systemd-id128 is not installed'
        : undefined,
  )('derives the machine-id hostId exactly as `systemd-id128 machine-id --app-specific` does', async () => {
    const identity = await readHostIdentity({ timeoutMs: 10_000 });
    expect(identity.hostIdSource).toBe('machine-id');
    expect(identity.hostId).toBe(systemdAppSpecificId());
    const rawMachineId = readFileSync('/etc/machine-id', 'utf8').trim();
    expect(JSON.stringify(identity)).not.toContain(rawMachineId);
  });
});

describe('hostIdentityFromFacts', () => {
  it('drops the placeholders a container reports and keeps the real facts', () => {
    const identity = hostIdentityFromFacts(CONTAINER_FACTS);
    expect(identity).toEqual({
      hostId: identity.hostId,
      hostIdSource: 'machine-id',
      hostname: 'vm',
      virtualHost: 'KVM',
      cpuManufacturer: 'AMD',
      cpuBrand: 'EPYC',
      cpuFamily: '25',
      cpuModel: '17',
      cpuLogicalCores: '2',
      cpuPhysicalCores: '2',
      osPlatform: 'linux',
      osDistro: 'Debian GNU/Linux',
      osRelease: '12',
      kernelRelease: '6.18.44-fc-v657',
      arch: 'x64',
    });
    expect(identity.hostId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(identity.hostId).not.toContain(CONTAINER_FACTS.uuid.os);
  });

  it('prefers the SMBIOS system UUID, lowercased, with serial and model', () => {
    const identity = hostIdentityFromFacts({
      ...CONTAINER_FACTS,
      system: {
        manufacturer: 'Supermicro',
        model: 'SYS-821GE-TNHR',
        serial: 'S123456X',
        uuid: '4C4C4544-0038-3010-8052-B4C04F4E4D32',
      },
    });
    expect(identity).toMatchObject({
      hostId: '4c4c4544-0038-3010-8052-b4c04f4e4d32',
      hostIdSource: 'system-uuid',
      systemUuid: '4c4c4544-0038-3010-8052-b4c04f4e4d32',
      systemSerial: 'S123456X',
      systemManufacturer: 'Supermicro',
      systemModel: 'SYS-821GE-TNHR',
    });
  });

  it('rejects all-zero, all-ones and board-default UUIDs and OEM filler text', () => {
    for (const uuid of [
      '00000000-0000-0000-0000-000000000000',
      'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
      '03000200-0400-0500-0006-000700080009',
      'not-a-uuid',
    ]) {
      const identity = hostIdentityFromFacts({
        ...CONTAINER_FACTS,
        system: { uuid, serial: 'To Be Filled By O.E.M.', manufacturer: 'Default string', model: 'Computer' },
      });
      expect(identity.hostIdSource, uuid).toBe('machine-id');
      expect(identity.systemUuid, uuid).toBeUndefined();
      expect([identity.systemSerial, identity.systemManufacturer, identity.systemModel]).toEqual([
        undefined,
        undefined,
        undefined,
      ]);
    }
  });

  it('falls back to the hostname when there is neither a system UUID nor a machine-id', () => {
    const identity = hostIdentityFromFacts({ os: { hostname: ' gpu-node-7 \n' }, fallbackHostname: 'other' });
    expect(identity).toEqual({ hostId: 'gpu-node-7', hostIdSource: 'hostname', hostname: 'gpu-node-7' });
  });

  it('strips control characters from firmware strings', () => {
    const identity = hostIdentityFromFacts({
      ...CONTAINER_FACTS,
      cpu: { brand: 'Xeon\u0000 Gold\u001b 6430' },
    });
    expect(identity.cpuBrand).toBe('Xeon Gold 6430');
  });
});

describe('readHostIdentity with a failing or slow systeminformation', () => {
  it('bounds a lookup that never answers by the timeout and keeps the facts that did', async () => {
    const notes: string[] = [];
    const started = Date.now();
    const identity = await readHostIdentity({
      timeoutMs: 200,
      onNote: (note) => notes.push(note),
      source: sourceWith({ system: () => new Promise(() => undefined) }),
    });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(identity.osDistro).toBe('Debian GNU/Linux');
    expect(identity.virtualHost).toBeUndefined();
    expect(notes).toEqual(['systeminformation system() did not answer in time; its facts are absent']);
  });

  it('leaves the fields of a failing lookup absent, notes it, and never throws', async () => {
    const notes: string[] = [];
    const identity = await readHostIdentity({
      onNote: (note) => notes.push(note),
      source: sourceWith({
        cpu: async () => {
          throw new Error('dmidecode exploded');
        },
        uuid: () => {
          throw new Error('sync throw');
        },
      }),
    });
    expect(identity.cpuBrand).toBeUndefined();
    expect(identity).toMatchObject({ hostId: 'vm', hostIdSource: 'hostname' });
    expect(notes.sort()).toEqual([
      'systeminformation cpu() failed: dmidecode exploded',
      'systeminformation uuid() failed: sync throw',
    ]);
  });

  it('stops waiting for a hanging lookup when the signal aborts, keeping the answers so far', async () => {
    const controller = new AbortController();
    const pending = readHostIdentity({
      timeoutMs: 60_000,
      signal: controller.signal,
      source: sourceWith({ osInfo: () => new Promise(() => undefined) }),
    });
    await new Promise((settled) => setTimeout(settled, 20));
    controller.abort();
    const identity = await pending;
    expect(identity.osDistro).toBeUndefined();
    expect(identity.hostIdSource).toBe('machine-id');
  });
});
