import { rfc3339 } from '../clock.js';
import type { MicroJoules } from '../units.js';
import { sumBigints } from './allocate.js';
import type { DeviceEnergy, RequestEnergyRecord, TrackedRequest } from './types.js';

/** What the attributor accumulated for one request from the allocations it had shares in. */
export interface RequestAccumulator {
  readonly microJoulesByDevice: Map<string, MicroJoules>;
  /** Its idle shares per device. */
  readonly idleMicroJoulesByDevice: Map<string, MicroJoules>;
  /** A share came from an estimated split. */
  estimated: boolean;
}

/** The context a record is built in. */
export interface RecordContext {
  /** The engine's GPUs; empty when the request's engine is not configured. */
  readonly gpuDeviceIds: readonly string[];
  readonly hostDeviceIds: readonly string[];
  readonly attributionMethod: string;
  /** Released by the max delay before every device had reported up to the request's end. */
  readonly incomplete: boolean;
}

/**
 * Builds the JSON record of an ended request. Throws `TypeError` for an open request (a caller
 * bug). `comprehensive` is left `null`: the boundary needs the factor snapshot (PUE, CO2e, water),
 * which the pipeline applies (`factors/record-impact.ts`, `recordComprehensiveImpact`).
 */
export function buildRequestRecord(
  request: TrackedRequest,
  accumulator: RequestAccumulator | undefined,
  context: RecordContext,
): RequestEnergyRecord {
  const { endMonoNanos, endUnixNanos, outcome } = request;
  if (endMonoNanos === null || endUnixNanos === null || outcome === null) {
    throw new TypeError(`request ${request.requestId} has not ended`);
  }
  const byDevice = accumulator?.microJoulesByDevice ?? new Map<string, MicroJoules>();
  const idleByDevice = accumulator?.idleMicroJoulesByDevice ?? new Map<string, MicroJoules>();
  const energyOf = (ids: readonly string[]) => sumBigints(ids.map((id) => byDevice.get(id) ?? 0n));
  const scope = [...new Set([...context.gpuDeviceIds, ...context.hostDeviceIds])];
  return {
    recordVersion: 1,
    requestId: request.requestId,
    engineId: request.engineId,
    gpuDeviceIds: [...context.gpuDeviceIds],
    model: request.model,
    operation: request.operation,
    source: request.source,
    traceId: request.traceId,
    startedAt: rfc3339(request.startUnixNanos),
    endedAt: rfc3339(endUnixNanos),
    durationNanos: (endMonoNanos - request.startMonoNanos).toString(),
    timeToFirstTokenNanos:
      request.firstTokenMonoNanos === null
        ? null
        : (request.firstTokenMonoNanos - request.startMonoNanos).toString(),
    ...tokenFields(request),
    outcome,
    httpStatus: request.httpStatus,
    activeEnergyMicroJoules: energyOf(context.gpuDeviceIds).toString(),
    hostEnergyMicroJoules: energyOf(context.hostDeviceIds).toString(),
    idleShareMicroJoules: sumBigints(scope.map((id) => idleByDevice.get(id) ?? 0n)).toString(),
    devices: deviceBreakdown(scope, byDevice, idleByDevice),
    attributionMethod: context.attributionMethod,
    // A request that never reached an engine took nothing, exactly: that zero is not an estimate.
    estimated:
      outcome !== 'unreached' &&
      (request.usage === null || (accumulator?.estimated ?? false) || context.incomplete),
    comprehensive: null,
  };
}

/** Token counts from the server's usage, else the output count the stream reached. */
function tokenFields(request: TrackedRequest) {
  const usage = request.usage;
  const streamed = request.timeline.at(-1)?.outputTokens ?? null;
  return {
    inputTokens: usage?.inputTokens ?? null,
    cachedInputTokens: usage?.cachedInputTokens ?? null,
    outputTokens: usage?.outputTokens ?? streamed,
    tokensSource:
      usage !== null ? ('usage' as const) : streamed !== null ? ('stream' as const) : ('none' as const),
  };
}

/** Every device of the request's scope, sorted by id (code-unit order, as canonical JSON sorts). */
function deviceBreakdown(
  ids: readonly string[],
  byDevice: ReadonlyMap<string, MicroJoules>,
  idleByDevice: ReadonlyMap<string, MicroJoules>,
): DeviceEnergy[] {
  return [...ids]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((deviceId) => ({
      deviceId,
      microJoules: (byDevice.get(deviceId) ?? 0n).toString(),
      idleShareMicroJoules: (idleByDevice.get(deviceId) ?? 0n).toString(),
    }));
}
