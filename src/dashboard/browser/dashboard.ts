import { barChart, lineChart } from './charts.js';
import { el, getJson, grams, int, joules, joulesRatio, litres, wattHours, watts } from './format.js';
import { type MeterData, WattledgerMeter } from './meter.js';
import { keysFromText, verifyReceiptInBrowser } from './verify-browser.js';

/** The dashboard page: polls the daemon's own API (same origin) and draws. */

interface LiveDevice {
  readonly id: string;
  readonly name: string;
  readonly hwType: string;
  readonly index: number;
  readonly simulated: boolean;
  readonly powerMilliWatts: number | null;
  readonly powerLimitMilliWatts: number | null;
}
interface Live {
  readonly simulated: boolean;
  readonly devices: readonly LiveDevice[];
  readonly ledger: {
    readonly batches: number;
    readonly latestCheckpointSize: number | null;
    readonly lastBatch: {
      readonly sequence: string;
      readonly endedAt: string | null;
      readonly records: number | null;
    } | null;
  };
}
interface Boundary {
  readonly requests: number;
  readonly energyMicroJoules: string;
  readonly perRequest: { readonly meanMicroJoules: string } | null;
  readonly perOutputToken: { readonly joulesPerToken: number | null };
  readonly co2eLocationMicrograms: { readonly total: string } | null;
  readonly waterMicroliters: { readonly total: string } | null;
}
interface ModelRow {
  readonly model: string | null;
  readonly engineId: string;
  readonly requests: number;
  readonly active: Boundary;
  readonly comprehensive: Boundary | null;
}
interface Report {
  readonly models: readonly ModelRow[];
  readonly totals: {
    readonly requests: number;
    readonly active: Boundary;
    readonly comprehensive: Boundary | null;
  };
}

const HISTORY = 120;
const history = new Map<string, number[]>();
const $ = (id: string) => document.getElementById(id) as HTMLElement;

function push(key: string, value: number): number[] {
  const list = history.get(key) ?? [];
  list.push(value);
  if (list.length > HISTORY) list.shift();
  history.set(key, list);
  return list;
}

async function refreshLive(): Promise<void> {
  const live = await getJson<Live>('/v1/dashboard/live');
  $('simulated').hidden = !live.simulated;
  const gpus = live.devices.filter((d) => d.hwType === 'gpu');
  const hosts = live.devices.filter((d) => d.hwType !== 'gpu');
  const sum = (list: readonly LiveDevice[]) => list.reduce((s, d) => s + (d.powerMilliWatts ?? 0), 0);
  const total = push('gpus', sum(gpus));
  $('power-total').textContent = watts(sum(gpus));
  $('power-total').dataset.milliWatts = String(sum(gpus));
  $('power-host').textContent =
    hosts.length === 0
      ? 'host: not measured here (no RAPL zone; the simulated node has no host sensor)'
      : `host ${watts(sum(hosts))}`;
  const limit = gpus.reduce((s, d) => s + (d.powerLimitMilliWatts ?? 0), 0);
  $('power-chart').replaceChildren(
    lineChart([{ values: total, className: 'total' }], Math.max(limit / 2, ...total), watts),
  );
  const list = $('gpus');
  list.replaceChildren(
    ...gpus.map((d) => {
      const row = el('div', 'gpu');
      row.dataset.deviceId = d.id;
      const bar = el('div', 'gpu-bar');
      const fill = el('div', 'gpu-fill');
      fill.style.width = `${Math.min(100, ((d.powerMilliWatts ?? 0) * 100) / (d.powerLimitMilliWatts ?? 1))}%`;
      bar.append(fill);
      row.append(
        el('span', 'gpu-name', `GPU ${d.index}`),
        bar,
        el('span', 'gpu-w', d.powerMilliWatts === null ? 'no reading' : watts(d.powerMilliWatts)),
      );
      return row;
    }),
  );
  const last = live.ledger.lastBatch;
  $('ledger-batch').textContent =
    last === null ? 'none yet' : `#${last.sequence} · ${last.records ?? 0} records · ${last.endedAt ?? ''}`;
  $('ledger-checkpoint').textContent =
    live.ledger.latestCheckpointSize === null ? 'none yet' : `tree size ${live.ledger.latestCheckpointSize}`;
}

function modelLabel(row: ModelRow): string {
  return row.model ?? row.engineId;
}

async function refreshModels(): Promise<void> {
  const report = await getJson<Report>('/v1/stats/models?from=1h');
  const rows = [...report.models].sort(
    (a, b) =>
      Number(int(a.active.perRequest?.meanMicroJoules ?? '0')) -
      Number(int(b.active.perRequest?.meanMicroJoules ?? '0')),
  );
  const perRequest = rows.map((r) => {
    const mean = Number(int((r.comprehensive ?? r.active).perRequest?.meanMicroJoules ?? null) ?? 0);
    return { label: modelLabel(r), value: mean, text: joules(mean) };
  });
  const perToken = rows.map((r) => {
    const j = (r.comprehensive ?? r.active).perOutputToken.joulesPerToken;
    return { label: modelLabel(r), value: j, text: joulesRatio(j) };
  });
  $('per-request').replaceChildren(barChart(perRequest, 'req'));
  $('per-token').replaceChildren(barChart(perToken, 'tok'));
  const table = $('models-table');
  table.replaceChildren(
    ...rows.map((r) => {
      const tr = el('tr');
      const c = r.comprehensive;
      tr.append(
        el('td', '', modelLabel(r)),
        el('td', 'num', String(r.requests)),
        el('td', 'num', joules(Number(int(r.active.perRequest?.meanMicroJoules ?? null) ?? 0))),
        el('td', 'num', joulesRatio(r.active.perOutputToken.joulesPerToken)),
        el('td', 'num', c ? joules(Number(int(c.perRequest?.meanMicroJoules ?? null) ?? 0)) : '–'),
        el('td', 'num', c ? joulesRatio(c.perOutputToken.joulesPerToken) : '–'),
      );
      return tr;
    }),
  );
}

async function refreshTotals(): Promise<void> {
  for (const [id, from] of [
    ['totals-hour', '1h'],
    ['totals-day', '24h'],
  ] as const) {
    const report = await getJson<Report>(`/v1/stats/models?from=${from}`);
    const b = report.totals.comprehensive ?? report.totals.active;
    const energy = int(b.energyMicroJoules) ?? 0n;
    const co2 = int(b.co2eLocationMicrograms?.total ?? null);
    const water = int(b.waterMicroliters?.total ?? null);
    const box = $(id);
    box.replaceChildren(
      el('div', 'big', wattHours(energy)),
      el('div', '', `${report.totals.requests} requests · ${joules(energy)}`),
      el(
        'div',
        '',
        `CO₂e ${co2 === null ? 'unknown' : grams(co2)} · water ${water === null ? 'unknown' : litres(water)}`,
      ),
    );
  }
}

let verifiedId: string | null = null;

async function refreshRecent(): Promise<void> {
  const { meters } = await getJson<{ meters: MeterData[] }>('/v1/dashboard/recent?limit=8');
  const list = $('recent');
  list.replaceChildren(
    ...meters.map((m) => {
      const item = el('div', 'answer');
      item.dataset.requestId = m.requestId;
      const meter = new WattledgerMeter();
      meter.data = m;
      item.append(el('div', 'answer-head', `${m.model ?? '?'} · ${m.outputTokens ?? '?'} tokens`), meter);
      return item;
    }),
  );
  const newest = meters[0];
  if (newest && newest.requestId !== verifiedId) await verifyNewest(newest);
}

/** Verifies the newest request's receipt in this browser, with the key this daemon publishes. */
async function verifyNewest(meter: MeterData): Promise<void> {
  const status = $('ledger-verified');
  try {
    const keys = keysFromText(await (await fetch('/v1/keys')).text());
    const response = await fetch(meter.receiptPath);
    if (response.status === 409) {
      status.textContent = 'waiting for the checkpoint that covers the newest record…';
      return;
    }
    const { report, engine } = await verifyReceiptInBrowser(await response.json(), keys);
    verifiedId = meter.requestId;
    status.textContent = report.ok
      ? `✓ the newest receipt (${meter.requestId.slice(0, 8)}…) verified in this browser (${engine})`
      : `✗ the newest receipt FAILED: ${report.findings[0]?.message ?? ''}`;
    status.className = report.ok ? 'ok' : 'bad';
  } catch (error) {
    status.textContent = `not verified: ${String(error)}`;
  }
}

function every(ms: number, task: () => Promise<void>): void {
  const run = () =>
    task().then(
      () => $('error').replaceChildren(),
      (error: unknown) => $('error').replaceChildren(el('div', 'bad', String(error))),
    );
  void run();
  setInterval(run, ms);
}

every(1000, refreshLive);
every(5000, refreshModels);
every(10_000, refreshTotals);
every(3000, refreshRecent);
