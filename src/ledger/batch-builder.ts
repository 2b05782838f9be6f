import {
  BATCH_PREDICATE_TYPE,
  type BatchPredicate,
  type BatchStatement,
  STATEMENT_TYPE,
  type WireAgent,
  type WireAllocationSums,
  type WireAttribution,
  type WireDevice,
  type WireEvent,
  type WireIdleBaseline,
  type WireTotals,
  type WireWindow,
} from '../attest/batch-format.js';
import { hexFromBytes } from '../attest/bytes.js';
import { canonicalBytes } from '../attest/canonical.js';
import { sha256 } from '../attest/sha256.js';
import { rfc3339 } from '../clock.js';
import { type DeviceWindow, unmeasuredReasonOf } from './window.js';
import {
  type AllocationSums,
  type DeviceAttribution,
  type IdleBaselineSummary,
  zeroSums,
} from './window-attribution.js';

/** The times that bound a batch window. */
export interface WindowBounds {
  readonly startUnixNanos: bigint;
  readonly endUnixNanos: bigint;
  readonly startMonoNanos: bigint;
  readonly endMonoNanos: bigint;
  readonly downtimeNanos: bigint;
}

/** Everything a batch statement is made of besides the device windows. */
export interface BatchParts {
  readonly origin: string;
  readonly sequence: bigint;
  readonly previousSha256: string | null;
  readonly agent: WireAgent;
  readonly bounds: WindowBounds;
  readonly requests: {
    readonly count: number;
    readonly merkleRootSha256: string;
    readonly attributionMethod: string;
  };
  readonly factors: Readonly<Record<string, unknown>> | null;
  readonly events: readonly WireEvent[];
}

/**
 * Builds the in-toto statement of one batch. `attribution` holds each device's account from the
 * window's attribution (`WindowAttribution.close`); a device without one has all of its energy
 * `unattributed` (nothing deferred, nothing outstanding), which is exact when nothing is attributed.
 */
export function buildBatchStatement(
  parts: BatchParts,
  windows: readonly DeviceWindow[],
  attribution: ReadonlyMap<string, DeviceAttribution> = new Map(),
): BatchStatement {
  const devices = windows.map((w) => toWireDevice(w, attribution.get(w.device.id) ?? unattributed(w)));
  const predicate: BatchPredicate = {
    formatVersion: 1,
    origin: parts.origin,
    sequence: parts.sequence.toString(),
    previousSha256: parts.previousSha256,
    agent: parts.agent,
    window: toWireWindow(parts.bounds),
    devices,
    totals: totalsOf(windows),
    requests: parts.requests,
    factors: parts.factors,
    events: parts.events,
    simulated: windows.some((w) => w.device.simulated),
  };
  return {
    _type: STATEMENT_TYPE,
    // The subject names the batch and pins the device measurements by content digest.
    subject: [
      { name: `${parts.origin}/batch/${predicate.sequence}`, digest: { sha256: devicesDigestHex(devices) } },
    ],
    predicateType: BATCH_PREDICATE_TYPE,
    predicate,
  };
}

/** SHA-256 (hex) of the canonical JSON of the devices array: the statement's subject digest. */
export function devicesDigestHex(devices: readonly WireDevice[]): string {
  return hexFromBytes(sha256(canonicalBytes(devices)));
}

function toWireWindow(bounds: WindowBounds): WireWindow {
  return {
    startedAt: rfc3339(bounds.startUnixNanos),
    endedAt: rfc3339(bounds.endUnixNanos),
    startUnixNanos: bounds.startUnixNanos.toString(),
    endUnixNanos: bounds.endUnixNanos.toString(),
    startMonoNanos: bounds.startMonoNanos.toString(),
    endMonoNanos: bounds.endMonoNanos.toString(),
    downtimeNanos: bounds.downtimeNanos.toString(),
  };
}

function toWireDevice(window: DeviceWindow, account: DeviceAttribution): WireDevice {
  const { device } = window;
  const text = (value: bigint | null): string | null => (value === null ? null : value.toString());
  return {
    deviceId: device.id,
    probe: device.probe,
    hwType: device.hwType,
    name: device.name,
    vendor: device.vendor,
    accounting: device.accounting ?? 'additive',
    simulated: device.simulated,
    powerLimitMilliWatts: device.powerLimitMilliWatts ?? null,
    driverVersion: device.driverVersion ?? null,
    wrapRangeMicroJoules: text(device.energyWrapMicroJoules ?? null),
    energySource: device.hasEnergyCounter ? 'counter' : device.powerSemantics ? 'integrated-power' : 'none',
    powerSemantics: device.powerSemantics ?? 'none',
    counterStartMicroJoules: text(window.counterStartMicroJoules),
    counterEndMicroJoules: text(window.counterEndMicroJoules),
    counterEnergyMicroJoules: window.counterEnergyMicroJoules.toString(),
    fallbackEnergyMicroJoules: window.fallbackEnergyMicroJoules.toString(),
    integratedEnergyMicroJoules: window.integratedEnergyMicroJoules.toString(),
    downtimeEnergyMicroJoules: window.downtimeEnergyMicroJoules.toString(),
    energyMicroJoules: window.energyMicroJoules.toString(),
    comparedCounterMicroJoules: window.comparedMicroJoules.toString(),
    residualMicroJoules: window.residualMicroJoules.toString(),
    wrapCount: window.wrapCount,
    discontinuities: window.discontinuities.map((d) => ({
      reason: d.reason,
      fromMicroJoules: d.fromMicroJoules.toString(),
      toMicroJoules: d.toMicroJoules.toString(),
    })),
    gapCount: window.gapCount,
    gapNanos: window.gapNanos.toString(),
    gaps: window.gaps.map((g) => ({
      reason: g.reason,
      startMonoNanos: text(g.startMonoNanos),
      endMonoNanos: text(g.endMonoNanos),
      durationNanos: g.durationNanos.toString(),
      bridged: g.bridged,
      ...(g.code ? { code: g.code } : {}),
    })),
    intervalCount: window.intervalCount,
    powerSampleCount: window.powerSampleCount,
    peakPowerMilliWatts: window.peakPowerMilliWatts,
    coveredNanos: window.coveredNanos.toString(),
    unmeasuredReason: unmeasuredReasonOf(window),
    attribution: toWireAttribution(account),
  };
}

/** The account of a device nobody attributes: everything unattributed, nothing deferred. */
function unattributed(window: DeviceWindow): DeviceAttribution {
  return {
    fresh: { ...zeroSums(), unattributedMicroJoules: window.energyMicroJoules },
    deferredMicroJoules: 0n,
    resolved: zeroSums(),
    outstandingDeferredMicroJoules: 0n,
    idleBaseline: null,
  };
}

function toWireAttribution(account: DeviceAttribution): WireAttribution {
  return {
    ...toWireSums(account.fresh),
    deferredMicroJoules: account.deferredMicroJoules.toString(),
    resolved: toWireSums(account.resolved),
    outstandingDeferredMicroJoules: account.outstandingDeferredMicroJoules.toString(),
    idleBaseline: account.idleBaseline === null ? null : toWireIdleBaseline(account.idleBaseline),
  };
}

function toWireSums(sums: AllocationSums): WireAllocationSums {
  return {
    requestsMicroJoules: sums.requestsMicroJoules.toString(),
    idleMicroJoules: sums.idleMicroJoules.toString(),
    unattributedMicroJoules: sums.unattributedMicroJoules.toString(),
    idleSharedMicroJoules: sums.idleSharedMicroJoules.toString(),
    idleUnsharedMicroJoules: (sums.idleMicroJoules - sums.idleSharedMicroJoules).toString(),
  };
}

function toWireIdleBaseline(summary: IdleBaselineSummary): WireIdleBaseline {
  return {
    source: summary.last.source,
    powerMilliWatts: summary.last.powerMilliWatts,
    minPowerMilliWatts: summary.minPowerMilliWatts,
    maxPowerMilliWatts: summary.maxPowerMilliWatts,
    sampleCount: summary.last.sampleCount,
    idleNanos: summary.last.idleNanos.toString(),
  };
}

function totalsOf(windows: readonly DeviceWindow[]): WireTotals {
  let all = 0n;
  const byType = { gpu: 0n, cpu: 0n, dram: 0n };
  for (const w of windows) {
    if (w.device.accounting === 'overlapping') continue;
    all += w.energyMicroJoules;
    if (w.device.hwType === 'gpu' || w.device.hwType === 'cpu' || w.device.hwType === 'dram')
      byType[w.device.hwType] += w.energyMicroJoules;
  }
  return {
    energyMicroJoules: all.toString(),
    gpuEnergyMicroJoules: byType.gpu.toString(),
    cpuEnergyMicroJoules: byType.cpu.toString(),
    dramEnergyMicroJoules: byType.dram.toString(),
  };
}
