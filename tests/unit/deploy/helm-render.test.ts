import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { configSchema } from '../../../src/config/schema.js';
import { itUnless } from '../../helpers/skip.js';

// The chart rendered by the real helm for several value sets, and every manifest checked against
// the Kubernetes API schemas in two ways (docs/INSTALL.md, "What is checked"):
// - kubernetes-models' validators (JSON Schema compiled from the Kubernetes OpenAPI document, and
//   from the prometheus-operator CRDs for ServiceMonitor): types, required fields, enums, formats;
// - TypeScript's excess-property check against the same models' types: an unknown or misspelt field
//   anywhere in a manifest fails, which the OpenAPI schemas alone allow (kubeconform's -strict).
// The values themselves are checked against values.schema.json with Ajv (draft-07), as helm does.

type Json = Record<string, unknown>;
const root = new URL('../../../', import.meta.url).pathname;
const chartDir = join(root, 'helm/wattledger');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const getPath = (value: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((node, part) => (isObject(node) ? node[part] : undefined), value);

const helmFound = spawnSync('sh', ['-c', 'command -v helm'], { encoding: 'utf8' }).status === 0;
const helmSkip = helmFound
  ? undefined
  : 'helm not installed (scripts/install-helm.sh installs it): chart render checks skipped';

interface Rendered {
  readonly status: number | null;
  readonly stderr: string;
  readonly docs: Json[];
}

function helmTemplate(sets: readonly string[], extra: readonly string[] = []): Rendered {
  const result = spawnSync(
    'helm',
    ['template', 'wl', chartDir, '--namespace', 'energy', ...extra, ...sets.flatMap((s) => ['--set', s])],
    { encoding: 'utf8' },
  );
  const docs =
    result.status === 0
      ? parseAllDocuments(result.stdout)
          .map((doc) => doc.toJS() as unknown)
          .filter(isObject)
      : [];
  return { status: result.status, stderr: result.stderr, docs };
}

const WITH_CRDS = ['--api-versions', 'monitoring.coreos.com/v1'];

/** Value sets an operator would use; each must render and every manifest must validate. */
const SCENARIOS: Record<string, { sets: string[]; extra?: string[] }> = {
  defaults: { sets: [] },
  'docs/fleet/helm-values.yaml (OTLP to the gateway, API, NetworkPolicy)': {
    sets: [
      'image.digest=sha256:0000000000000000000000000000000000000000000000000000000000000000',
      'imagePullSecrets[0].name=registry',
    ],
    extra: ['--values', join(root, 'docs/fleet/helm-values.yaml'), ...WITH_CRDS],
  },
  'Prometheus scraping through a ServiceMonitor': {
    sets: [
      'config.otlp.enabled=true',
      'config.otlp.metricsEnabled=false',
      'prometheus.enabled=true',
      'serviceMonitor.enabled=true',
      'serviceMonitor.labels.release=kube-prometheus-stack',
      'networkPolicy.enabled=true',
    ],
    extra: WITH_CRDS,
  },
  'ledger on a ReadWriteMany claim': {
    sets: ['ledger.type=existingClaim', 'ledger.existingClaim=wl-ledgers'],
  },
  'RAPL as root with a recursively read-only /sys': {
    sets: [
      'podSecurityContext.runAsUser=0',
      'podSecurityContext.runAsGroup=0',
      'podSecurityContext.runAsNonRoot=false',
      'hostSysfs.recursiveReadOnly=IfPossible',
      'config.probes.rapl=on',
    ],
  },
  'OnDelete updates, no ServiceAccount, no host machine-id': {
    sets: ['updateStrategy.type=OnDelete', 'serviceAccount.create=false', 'hostMachineId.enabled=false'],
  },
};

/** Where kubernetes-models keeps the model of each apiVersion/kind the chart renders. */
function modelModule(apiVersion: string, kind: string): string {
  if (apiVersion === 'monitoring.coreos.com/v1')
    return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

/** Runs kubernetes-models' validator of the manifest's kind; the errors, or [] when it is valid. */
async function schemaErrors(doc: Json): Promise<string[]> {
  const apiVersion = String(doc.apiVersion);
  const kind = String(doc.kind);
  const module = (await import(modelModule(apiVersion, kind))) as Record<
    string,
    new (
      data: unknown,
    ) => { validate(): void }
  >;
  const Model = module[kind];
  if (Model === undefined) return [`no model for ${apiVersion} ${kind}`];
  try {
    new Model(doc).validate();
    return [];
  } catch (error) {
    return [`${kind} ${String(getPath(doc, 'metadata.name'))}: ${(error as Error).message}`];
  }
}

/**
 * Type-checks the manifests as object literals of the models' interfaces, in one in-memory program:
 * TypeScript rejects any property the type does not declare, at any depth.
 */
function unknownFieldErrors(docs: readonly Json[]): string[] {
  const fileName = join(root, 'tests/unit/deploy/__rendered-manifests__.ts');
  const lines = docs.map((doc, i) => {
    const kind = String(doc.kind);
    const module = modelModule(String(doc.apiVersion), kind);
    return `import type { I${kind} as T${i} } from '${module}';\nexport const doc${i}: T${i} = ${JSON.stringify(doc)};`;
  });
  const text = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.fileExists = (
    (exists) => (name: string) =>
      name === fileName || exists(name)
  )(host.fileExists.bind(host));
  host.readFile = (name) => (name === fileName ? text : readFile(name));
  host.getSourceFile = (name, language, ...rest) =>
    name === fileName
      ? ts.createSourceFile(name, text, language, true)
      : getSourceFile(name, language, ...rest);
  const program = ts.createProgram([fileName], options, host);
  const source = program.getSourceFile(fileName);
  return ts.getPreEmitDiagnostics(program, source).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    const line = d.start === undefined || !source ? '?' : source.getLineAndCharacterOfPosition(d.start).line;
    const doc = docs[Math.floor(Number(line) / 2)];
    return `${String(doc?.kind)} ${String(getPath(doc, 'metadata.name'))}: ${message}`;
  });
}

describe('helm/wattledger values.schema.json, with a real JSON Schema validator (Ajv, draft-07)', () => {
  const schema = JSON.parse(read('helm/wattledger/values.schema.json')) as Json;
  const values = parseYaml(read('helm/wattledger/values.yaml')) as Json;
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
  const errorsOf = (candidate: unknown) =>
    validate(candidate) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);

  it('accepts values.yaml', () => {
    expect(errorsOf(values)).toEqual([]);
  });

  it('refuses a surging rollout, a bad ServiceMonitor interval and unknown ServiceMonitor keys', () => {
    const bad = structuredClone(values);
    (getPath(bad, 'updateStrategy.rollingUpdate') as Json).maxSurge = 1;
    (bad.serviceMonitor as Json).interval = 'often';
    (bad.serviceMonitor as Json).enable = true;
    const errors = errorsOf(bad);
    expect(errors).toContain(
      '/updateStrategy/rollingUpdate/maxSurge must be equal to one of the allowed values',
    );
    expect(errors.some((e) => e.startsWith('/serviceMonitor/interval must match pattern'))).toBe(true);
    expect(errors).toContain('/serviceMonitor must NOT have additional properties');
  });
});

describe('helm/wattledger rendered manifests against the Kubernetes schemas', () => {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    itUnless(helmSkip)(
      `${name}: renders, and every manifest validates strictly`,
      async () => {
        const rendered = helmTemplate(scenario.sets, scenario.extra);
        expect(rendered.status, rendered.stderr).toBe(0);
        expect(rendered.docs.length).toBeGreaterThan(1);
        const errors = (await Promise.all(rendered.docs.map(schemaErrors))).flat();
        expect(errors).toEqual([]);
        expect(unknownFieldErrors(rendered.docs)).toEqual([]);
        // And the ConfigMap holds a config the daemon accepts as it stands.
        const configMap = rendered.docs.find((doc) => doc.kind === 'ConfigMap');
        const config = parseYaml(String((getPath(configMap, 'data') as Json)['config.yaml']));
        const parsed = configSchema.safeParse(config);
        expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
      },
      60_000,
    );
  }

  itUnless(helmSkip)(
    'the strict checks are not vacuous: a misspelt field and a wrong type are caught',
    async () => {
      const [daemonset] = helmTemplate([]).docs.filter((doc) => doc.kind === 'DaemonSet');
      const broken = structuredClone(daemonset) as Json;
      const container = (getPath(broken, 'spec.template.spec.containers') as Json[])[0] as Json;
      container.imagePullPolice = 'Always';
      expect(unknownFieldErrors([broken]).join('\n')).toMatch(
        /imagePullPolice\W+ does not exist in type 'IContainer'/,
      );
      delete container.imagePullPolice;
      (getPath(broken, 'spec') as Json).minReadySeconds = 'ten';
      expect((await schemaErrors(broken)).join('\n')).toMatch(/minReadySeconds must be integer/);
    },
    60_000,
  );
});

describe('helm/wattledger rollout, ledger storage and ServiceMonitor', () => {
  const byKind = (docs: Json[], kind: string) => docs.filter((doc) => doc.kind === kind);
  const daemonsetOf = (docs: Json[]) => byKind(docs, 'DaemonSet')[0] as Json;

  itUnless(helmSkip)(
    'replaces one node’s agent at a time, the old pod gone before the new one starts',
    () => {
      const ds = daemonsetOf(helmTemplate([]).docs);
      expect(getPath(ds, 'spec.updateStrategy')).toEqual({
        type: 'RollingUpdate',
        rollingUpdate: { maxUnavailable: 1, maxSurge: 0 },
      });
      expect(getPath(ds, 'spec.minReadySeconds')).toBe(10);
      // Time for the old pod to seal its last window before SIGKILL.
      expect(Number(getPath(ds, 'spec.template.spec.terminationGracePeriodSeconds'))).toBeGreaterThanOrEqual(
        30,
      );
      // With the API on, readiness (/readyz) is what the rollout waits for on each node.
      const withApi = daemonsetOf(helmTemplate(['api.enabled=true']).docs);
      const container = (getPath(withApi, 'spec.template.spec.containers') as Json[])[0];
      expect(getPath(container, 'readinessProbe.httpGet.path')).toBe('/readyz');
    },
  );

  itUnless(helmSkip)('refuses a surge pod (two agents on one ledger), by schema and by template', () => {
    const surge = helmTemplate(['updateStrategy.rollingUpdate.maxSurge=1']);
    expect(surge.status).not.toBe(0);
    expect(surge.stderr).toMatch(/maxSurge/);
  });

  itUnless(helmSkip)('keeps the ledger on the node’s hostPath, mounted where the config says', () => {
    const { docs } = helmTemplate([]);
    const ds = daemonsetOf(docs);
    const config = parseYaml(String(getPath(byKind(docs, 'ConfigMap')[0], 'data')?.['config.yaml' as never]));
    const volumes = getPath(ds, 'spec.template.spec.volumes') as Json[];
    expect(volumes).toContainEqual({
      name: 'ledger',
      hostPath: { path: '/var/lib/wattledger', type: 'DirectoryOrCreate' },
    });
    const container = (getPath(ds, 'spec.template.spec.containers') as Json[])[0];
    const mount = (getPath(container, 'volumeMounts') as Json[]).find((m) => m.name === 'ledger');
    expect(mount?.mountPath).toBe(getPath(config, 'ledger.dir'));
    // The init container hands the directory to the pod's user (65532), nothing more.
    const init = (getPath(ds, 'spec.template.spec.initContainers') as Json[])[0];
    expect(getPath(init, 'securityContext.capabilities.add')).toEqual(['CHOWN', 'FOWNER']);
  });

  itUnless(helmSkip)('or on a ReadWriteMany claim, one sub-directory per node', () => {
    const ds = daemonsetOf(
      helmTemplate(['ledger.type=existingClaim', 'ledger.existingClaim=wl-ledgers']).docs,
    );
    const volumes = getPath(ds, 'spec.template.spec.volumes') as Json[];
    expect(volumes).toContainEqual({ name: 'ledger', persistentVolumeClaim: { claimName: 'wl-ledgers' } });
    const container = (getPath(ds, 'spec.template.spec.containers') as Json[])[0];
    const mount = (getPath(container, 'volumeMounts') as Json[]).find((m) => m.name === 'ledger');
    expect(mount?.subPathExpr).toBe('$(NODE_NAME)');
    expect(getPath(ds, 'spec.template.spec.initContainers')).toBeUndefined();
    expect(helmTemplate(['ledger.type=existingClaim']).status).not.toBe(0);
  });

  itUnless(helmSkip)('ServiceMonitor: off by default; needs prometheus.enabled and the CRDs', () => {
    expect(byKind(helmTemplate(['prometheus.enabled=true'], WITH_CRDS).docs, 'ServiceMonitor')).toEqual([]);
    const noMetrics = helmTemplate(['serviceMonitor.enabled=true'], WITH_CRDS);
    expect(noMetrics.status).not.toBe(0);
    expect(noMetrics.stderr).toContain('serviceMonitor.enabled needs prometheus.enabled');
    const noCrds = helmTemplate(['serviceMonitor.enabled=true', 'prometheus.enabled=true']);
    expect(noCrds.status).not.toBe(0);
    expect(noCrds.stderr).toContain('no monitoring.coreos.com/v1 API');
  });

  itUnless(helmSkip)(
    'ServiceMonitor selects the metrics Service only, on its port and path, with a node label',
    () => {
      const { docs } = helmTemplate(
        [
          'api.enabled=true',
          'prometheus.enabled=true',
          'serviceMonitor.enabled=true',
          'serviceMonitor.labels.release=prom',
          'config.prometheus.path=/scrape',
        ],
        WITH_CRDS,
      );
      const [monitor] = byKind(docs, 'ServiceMonitor');
      expect(getPath(monitor, 'metadata.labels.release')).toBe('prom');
      const selector = getPath(monitor, 'spec.selector.matchLabels') as Record<string, string>;
      const selected = byKind(docs, 'Service').filter((svc) =>
        Object.entries(selector).every(([k, v]) => getPath(svc, 'metadata.labels')?.[k as never] === v),
      );
      expect(selected.map((svc) => getPath(svc, 'metadata.name'))).toEqual(['wl-wattledger-metrics']);
      const endpoint = (getPath(monitor, 'spec.endpoints') as Json[])[0] as Json;
      const ports = getPath(selected[0], 'spec.ports') as Json[];
      expect(ports.map((p) => p.name)).toContain(endpoint.port);
      expect(endpoint.path).toBe('/scrape');
      expect(endpoint.relabelings).toContainEqual(
        expect.objectContaining({ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' }),
      );
      expect(getPath(monitor, 'spec.namespaceSelector.matchNames')).toEqual(['energy']);
    },
  );
});
