import type { EngineSpec } from '../requests/types.js';

/** Which engine a span's request ran on, from what the span names: its service and its model. */
export interface EngineResolverOptions {
  readonly engines: readonly EngineSpec[];
  /** Proxy upstreams: their models map to their engine, exactly as the proxy routes them. */
  readonly upstreams?: readonly { readonly engine: string; readonly models: readonly string[] }[];
  /** `spans.services` as a map: `service.name` → engine id. */
  readonly engineByService?: Readonly<Record<string, string>>;
}

/** An engine id, or why none could be chosen. */
export type EngineChoice = { readonly engineId: string } | { readonly problem: string };

/**
 * Resolves, in order: the span's `service.name` in `spans.services` (the only way to tell
 * apart two servers of one model); its model in an engine's `models`; its model in a proxy
 * upstream's `models`; the only engine when there is one. Otherwise no engine (the span is
 * rejected, with what to configure). Unknown engine ids in `services` are refused at start.
 */
export function createEngineResolver(
  options: EngineResolverOptions,
): (model: string | null, service: string | null) => EngineChoice {
  const known = new Set(options.engines.map((e) => e.engineId));
  const byService = new Map(Object.entries(options.engineByService ?? {}));
  for (const [service, engineId] of byService)
    if (!known.has(engineId))
      throw new RangeError(
        `spans.services maps ${service} to unknown engine ${engineId} (known: ${[...known].join(', ')})`,
      );
  const byModel = new Map<string, string>();
  for (const engine of options.engines)
    for (const model of engine.models) if (!byModel.has(model)) byModel.set(model, engine.engineId);
  for (const upstream of options.upstreams ?? [])
    for (const model of upstream.models)
      if (!byModel.has(model) && known.has(upstream.engine)) byModel.set(model, upstream.engine);
  const only = options.engines.length === 1 ? options.engines[0]?.engineId : undefined;
  return (model, service) => {
    const fromService = service === null ? undefined : byService.get(service);
    if (fromService !== undefined) return { engineId: fromService };
    const fromModel = model === null ? undefined : byModel.get(model);
    if (fromModel !== undefined) return { engineId: fromModel };
    if (only !== undefined) return { engineId: only };
    return {
      problem: `no engine for model ${model ?? '(none)'} of service ${service ?? '(none)'}; list the model in engines[].models or the service in spans.services`,
    };
  };
}
