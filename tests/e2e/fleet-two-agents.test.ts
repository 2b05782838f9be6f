import { spawnSync } from 'node:child_process';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  CLI,
  cliSkipReason,
  makeSigningKey,
  runCli,
  startSimulatedDaemon,
  waitForSeals,
} from '../helpers/cli.js';
import { ledgerLines } from '../helpers/ledger-fixture.js';
import { OtlpReceiver } from '../helpers/otlp-receiver.js';
import { describeUnless, itUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { logRecords, metricPoints } from '../integration/export/otlp-views.js';

// docs/FLEET.md in miniature: two agents on one machine, each with its own key, log origin and
// ledger, export to one OTLP receiver (standing in for the fleet's collector). What arrives must
// be enough to tell the agents apart and to verify each one's ledger: per-agent metrics through
// the resource, and each agent's signed batches, byte for byte, under its own origin.
const skip = cliSkipReason();

const AGENTS = ['node-a', 'node-b'] as const;
const root = new URL('../../', import.meta.url).pathname;

/** The data point attributes docs/fleet/otel-collector.yaml keeps (its keep_keys list). */
async function collectorKeptAttributes(): Promise<string[]> {
  const config = parseYaml(await readFile(join(root, 'docs/fleet/otel-collector.yaml'), 'utf8')) as {
    processors: Record<string, { metric_statements?: { statements: string[] }[] }>;
  };
  const statements = config.processors['transform/bounded-labels']?.metric_statements?.[0]?.statements ?? [];
  const keep = statements.find((st) => st.startsWith('keep_keys(attributes, '));
  return JSON.parse(/\[.*\]/.exec(keep ?? '')?.[0] ?? '[]') as string[];
}

/** The FLEET.md shell block that turns archived OTLP JSON into one ledger file, as written there. */
async function fleetRecipe(): Promise<string> {
  const doc = await readFile(join(root, 'docs/FLEET.md'), 'utf8');
  const after = doc.slice(doc.indexOf('<!-- recipe: archive-to-jsonl'));
  const block = /```sh\n([\s\S]*?)```/.exec(after)?.[1];
  if (block === undefined) throw new Error('docs/FLEET.md has no archive-to-jsonl recipe');
  return block;
}

const jqSkip =
  spawnSync('sh', ['-c', 'command -v jq']).status === 0
    ? undefined
    : 'jq not installed: FLEET.md recipe not run';
const ORIGIN_PREFIX = 'example.com/wattledger/';

describeUnless(skip)('two agents exporting to one OTLP receiver', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  /** Starts both agents against `receiver`, lets each seal `batches` batches, stops them. */
  async function runTwoAgents(receiver: OtlpReceiver, batches: number) {
    const { dir, cleanup } = await makeTmpDir('wattledger-fleet-');
    cleanups.push(cleanup);
    const agents = await Promise.all(
      AGENTS.map(async (name) => {
        const agentDir = join(dir, name);
        await mkdir(agentDir);
        const key = await makeSigningKey(agentDir, `${ORIGIN_PREFIX}${name}`);
        const config = join(agentDir, 'config.yaml');
        // One origin per ledger: on separate hosts the default wattledger/<hostId> differs by
        // itself; two agents on one host must be told apart (docs/FLEET.md).
        await writeFile(config, `ledger:\n  origin: ${ORIGIN_PREFIX}${name}\n`);
        const started = await startSimulatedDaemon(
          agentDir,
          ['--otlp', '--config', config],
          {
            OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
            OTEL_METRIC_EXPORT_INTERVAL: '1000',
            OTEL_RESOURCE_ATTRIBUTES: `host.name=${name}`,
          },
          key,
        );
        return { name, origin: `${ORIGIN_PREFIX}${name}`, dir: agentDir, ...started };
      }),
    );
    cleanups.push(async () => {
      for (const agent of agents) if (agent.daemon.exitCode === null) agent.daemon.kill('SIGKILL');
    });
    await Promise.all(agents.map((agent) => waitForSeals(agent.daemon, { count: batches }, 30_000)));
    await receiver.waitFor(() => {
      const hosts = new Set(metricPoints(receiver.accepted('metrics')).map((p) => p.resource['host.name']));
      return AGENTS.every((name) => hosts.has(name));
    }, 30_000);
    for (const agent of agents) agent.daemon.kill('SIGTERM');
    for (const agent of agents) {
      const result = await agent.done;
      expect(result.code, `${agent.name}: ${result.stderr.slice(-2000)}`).toBe(0);
    }
    // Each new ledger's origin is the configured base plus its own ledger id (FORMAT.md §3.2).
    for (const agent of agents) {
      const first = (await readFile(join(agent.ledger, 'ledger-000001.jsonl'), 'utf8')).split(
        '\n',
      )[0] as string;
      const origin = JSON.parse(Buffer.from(JSON.parse(first).payload, 'base64').toString('utf8')).predicate
        .origin;
      expect(origin).toMatch(new RegExp(`^${agent.origin}/[0-9a-f]{16}$`));
      agent.origin = origin;
    }
    return agents;
  }

  it('the receiver gets both agents’ metrics and batches; each origin’s log records verify as its ledger', async () => {
    const receiver = await OtlpReceiver.start();
    cleanups.push(() => receiver.close());
    const agents = await runTwoAgents(receiver, 3);

    // Metrics: the same instrument from both agents, told apart by the resource only.
    const energy = metricPoints(receiver.accepted('metrics')).filter((p) => p.name === 'hw.energy');
    for (const name of AGENTS) {
      const mine = energy.filter((p) => p.resource['host.name'] === name);
      expect(mine.length, `hw.energy from ${name}`).toBeGreaterThan(0);
      expect(Math.max(...mine.map((p) => p.value))).toBeGreaterThan(0);
    }

    // Every data point carries only attributes the example collector keeps: bounded, nothing lost.
    const kept = new Set(await collectorKeptAttributes());
    expect(kept.size).toBeGreaterThan(5);
    const seen = new Set(
      metricPoints(receiver.accepted('metrics')).flatMap((p) => Object.keys(p.attributes)),
    );
    expect([...seen].filter((key) => !kept.has(key))).toEqual([]);

    // Logs: each agent's signed batches, in its ledger's order, under its own origin.
    const batches = logRecords(receiver.accepted('logs')).filter(
      (r) => r.eventName === 'wattledger.batch.signed',
    );
    const origins = new Set(batches.map((r) => r.attributes['wattledger.log.origin']));
    expect([...origins].sort()).toEqual(agents.map((a) => a.origin).sort());
    for (const agent of agents) {
      const lines = await ledgerLines(agent.ledger);
      expect(lines.length, agent.name).toBeGreaterThanOrEqual(3);
      const mine = batches.filter((r) => r.attributes['wattledger.log.origin'] === agent.origin);
      // At least once across restarts; no restart here, so exactly once: dedupe on the sequence anyway,
      // as docs/EXPORT.md tells a store to.
      const bySequence = new Map(
        mine.map((r) => [Number(r.attributes['wattledger.batch.sequence']), r.body]),
      );
      const exported = [...bySequence.entries()].sort(([a], [b]) => a - b).map(([, body]) => String(body));
      expect(exported).toEqual(lines);
      // What long-term storage kept verifies on its own: the bodies, one per line, in sequence order.
      const file = join(agent.dir, 'from-collector.jsonl');
      await writeFile(file, `${exported.join('\n')}\n`);
      const verified = await runCli(['verify', file, '--key', `${agent.key}.pub`]);
      expect(verified.code, verified.stdout + verified.stderr).toBe(0);
      expect(verified.stdout).toContain(`origin       ${agent.origin}`);
      expect(verified.stdout).toContain('VERIFIED');
      // The other agent's key does not verify this agent's batches.
      const other = agents.find((a) => a !== agent);
      const wrongKey = await runCli(['verify', file, '--key', `${other?.key}.pub`]);
      expect(wrongKey.code).toBe(1);
    }
  }, 90_000);

  itUnless(jqSkip)(
    'FLEET.md’s recipe turns the archived OTLP JSON back into a ledger file per origin that verifies',
    async () => {
      const receiver = await OtlpReceiver.start();
      cleanups.push(() => receiver.close());
      const agents = await runTwoAgents(receiver, 2);
      const [first] = agents as [(typeof agents)[number]];
      // The archive: each accepted request as one OTLP JSON object (the awss3 exporter's otlp_json),
      // every request twice, as an at-least-once pipeline may store them.
      const archive = join(first.dir, 'work', 'archive');
      await mkdir(archive, { recursive: true });
      const requests = receiver.accepted('logs');
      for (const [i, request] of [...requests, ...requests].entries()) {
        await writeFile(join(archive, `${String(i).padStart(4, '0')}.json`), JSON.stringify(request));
      }
      for (const agent of agents) {
        const recipe = (await fleetRecipe())
          .replace(/^ORIGIN=.*$/m, `ORIGIN='${agent.origin}'`)
          .replace('--key node.pub', `--key '${agent.key}.pub'`);
        const script = `wattledger() { '${process.execPath}' '${CLI}' "$@"; }\nset -e\n${recipe}`;
        const result = spawnSync('bash', ['-c', script], { cwd: join(first.dir, 'work'), encoding: 'utf8' });
        expect(result.status, result.stdout + result.stderr).toBe(0);
        expect(result.stdout).toContain(`origin       ${agent.origin}`);
        expect(result.stdout).toContain('VERIFIED');
        const file = await readFile(join(first.dir, 'work', 'ledger.jsonl'), 'utf8');
        expect(file).toBe(`${(await ledgerLines(agent.ledger)).join('\n')}\n`);
      }
    },
    90_000,
  );

  it('both ledgers, with both public keys, in one `wattledger verify` call', async (ctx) => {
    const receiver = await OtlpReceiver.start();
    cleanups.push(() => receiver.close());
    const agents = await runTwoAgents(receiver, 2);
    const keys = agents.flatMap((a) => ['--key', `${a.key}.pub`]);
    const result = await runCli(['verify', ...agents.map((a) => a.ledger), ...keys]);
    if (result.code === 2 && result.stderr.includes('give exactly one ledger')) {
      // Each ledger verifies in a call of its own today (the test above); one call for several
      // ledgers is being added to the verifier. Then this test runs.
      ctx.skip('wattledger verify takes one ledger per call (CLI_USAGE "give exactly one ledger")');
    }
    expect(result.code, result.stdout + result.stderr).toBe(0);
    for (const agent of agents) expect(result.stdout).toContain(agent.origin);
    // One changed byte in either ledger fails the whole call.
    const [a, b] = agents as [(typeof agents)[number], (typeof agents)[number]];
    const copy = join(b.dir, 'ledger-tampered');
    await cp(b.ledger, copy, { recursive: true });
    const segment = join(copy, (await readdir(copy)).find((n) => n.endsWith('.jsonl')) as string);
    const text = await readFile(segment, 'utf8');
    const at = text.indexOf('"payload":"') + 20;
    await writeFile(segment, text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1));
    const tampered = await runCli(['verify', a.ledger, copy, ...keys]);
    expect(tampered.code, tampered.stdout).toBe(1);
  }, 90_000);
});
