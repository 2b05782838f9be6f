import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import * as names from '../../../src/export/names.js';

// docs/fleet/otel-collector.yaml, checked for what can be checked without a collector (none is
// packaged for this project's machines; docs/FLEET.md says so): the pipelines are wired, the ledger
// pipeline cannot change a record, and the metric labels kept are exactly the ones wattledger exports.

type Json = Record<string, unknown>;
const root = new URL('../../../', import.meta.url).pathname;
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const config = parseYaml(read('docs/fleet/otel-collector.yaml'), { strict: true, uniqueKeys: true }) as {
  extensions: Json;
  receivers: Json;
  processors: Record<string, Json>;
  exporters: Json;
  service: {
    extensions: string[];
    pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }>;
  };
};
const pipelines = Object.entries(config.service.pipelines);
const statements = (processor: string): string[] =>
  ((config.processors[processor]?.metric_statements as { statements: string[] }[] | undefined) ?? []).flatMap(
    (block) => block.statements,
  );

/** Attribute keys wattledger puts on metrics: every ATTR_* constant except the log records' own. */
const metricAttributes = Object.entries(names)
  .filter(([name]) => name.startsWith('ATTR_'))
  .map(([, value]) => value as string)
  .filter(
    (key) =>
      ![names.ATTR_BATCH_SEQUENCE, names.ATTR_LOG_ORIGIN, names.ATTR_CHECKPOINT_TREE_SIZE].includes(key),
  );

describe('docs/fleet/otel-collector.yaml', () => {
  it('has a metrics and a ledger-logs pipeline, both from the OTLP receiver', () => {
    expect(pipelines.map(([name]) => name.split('/')[0]).sort()).toEqual(['logs', 'metrics']);
    for (const [, pipeline] of pipelines) expect(pipeline.receivers).toEqual(['otlp']);
    expect(getHttpEndpoint()).toMatch(/:4318$/);
  });

  it('defines every component a pipeline names, and names every component it defines', () => {
    for (const kind of ['receivers', 'processors', 'exporters'] as const) {
      const defined = Object.keys(config[kind]).sort();
      const used = [...new Set(pipelines.flatMap(([, p]) => p[kind]))].sort();
      expect(used, kind).toEqual(defined);
    }
    expect([...config.service.extensions].sort()).toEqual(Object.keys(config.extensions).sort());
  });

  it('puts memory_limiter first and a batch processor last in every pipeline', () => {
    for (const [name, pipeline] of pipelines) {
      expect(pipeline.processors[0], name).toBe('memory_limiter');
      expect(pipeline.processors.at(-1), name).toMatch(/^batch(\/|$)/);
    }
  });

  it('cannot change a ledger record: only memory_limiter, filters and batch in the logs pipeline', () => {
    const [, logs] = pipelines.find(([name]) => name.startsWith('logs')) ?? [];
    for (const processor of logs?.processors ?? [])
      expect(processor).toMatch(/^(memory_limiter|filter\/.+|batch\/.+)$/);
    // And the filter keeps the signed ledger's scope, by its exported name.
    const filter = JSON.stringify(config.processors['filter/ledger-only']);
    expect(filter).toContain(`instrumentation_scope.name != \\"${names.SCOPE_LEDGER}\\"`);
    // Stored as OTLP JSON: bodies and attributes (origin, sequence) as they arrived.
    expect((config.exporters['awss3/ledger'] as Json).marshaler).toBe('otlp_json');
  });

  it('keeps exactly the attributes wattledger exports on metrics, so series stay bounded', () => {
    const keep = statements('transform/bounded-labels').find((st) => st.startsWith('keep_keys(attributes, '));
    const kept = JSON.parse(/\[.*\]/.exec(keep ?? '')?.[0] ?? 'null') as string[];
    expect([...kept].sort()).toEqual([...metricAttributes].sort());
    // Nothing per request could be a label even if an exporter added it.
    for (const key of kept) expect(key).not.toMatch(/request\.id|trace|span_id|user/);
  });

  it('gives every host its own series and keeps resource attributes off the labels', () => {
    expect(statements('transform/instance')).toContainEqual(
      'set(attributes["service.instance.id"], attributes["host.id"]) where attributes["service.instance.id"] == nil',
    );
    const remoteWrite = config.exporters['prometheusremotewrite/mimir'] as Json;
    expect(remoteWrite.resource_to_telemetry_conversion).toEqual({ enabled: false });
    // Simulated GPUs are dropped before the store.
    expect(JSON.stringify(config.processors['filter/no-simulated'])).toContain(names.ATTR_SIMULATED);
  });
});

describe('docs/FLEET.md', () => {
  const doc = read('docs/FLEET.md');

  it('links the example files that exist', () => {
    for (const file of ['fleet/otel-collector.yaml', 'fleet/helm-values.yaml']) {
      expect(doc).toContain(`(${file})`);
      expect(() => read(`docs/${file}`)).not.toThrow();
    }
  });

  it('has the archive recipe the e2e test runs', () => {
    expect(doc).toMatch(/<!-- recipe: archive-to-jsonl[^>]*-->\n```sh\n/);
  });
});

function getHttpEndpoint(): string {
  const otlp = config.receivers.otlp as { protocols: { http: { endpoint: string } } };
  return otlp.protocols.http.endpoint;
}
