import { el, getJson, grams, int, joules, litres, wattHours } from './format.js';

/** The meter's JSON, `meterVersion` 1 (docs/DASHBOARD.md; served at `/v1/dashboard/meter/{id}`). */
export interface MeterData {
  readonly meterVersion: 1;
  readonly requestId: string;
  readonly model: string | null;
  readonly outputTokens: number | null;
  readonly inputTokens: number | null;
  readonly measurement: 'measured' | 'estimated' | 'simulated';
  readonly active: Impact | null;
  readonly comprehensive: Impact | null;
  readonly factors: Factors | null;
  readonly fallbackFactor: boolean;
  readonly receiptPath: string;
  readonly verifyPath: string;
}

type Impact = Readonly<Record<string, string | number | null>>;
interface Factors {
  readonly pueMilli: number;
  readonly location: {
    readonly zone: string;
    readonly zoneName: string | null;
    readonly source: string;
    readonly year: number | null;
    readonly gridIntensityMilligramsCo2ePerKilowattHour: number;
  } | null;
  readonly market: {
    readonly instrument: string;
    readonly gridIntensityMilligramsCo2ePerKilowattHour: number;
  } | null;
  readonly energySource: { readonly kind: string; readonly description: string | null };
  readonly water: {
    readonly wueMillilitersPerKilowattHour: number;
    readonly ewifMillilitersPerKilowattHour: number | null;
  };
}

const STYLE = `
:host { display: inline-block; font: 13px/1.35 system-ui, sans-serif; color: #1d2a24; }
.m { border: 1px solid #c9d6cf; border-radius: 10px; padding: 8px 10px; background: #f7fbf8; min-width: 260px; max-width: 380px; }
.top { display: flex; align-items: baseline; gap: 8px; flex-wrap: wrap; }
.e { font-size: 18px; font-weight: 650; }
.j { color: #4b5f55; }
.badge { font-size: 11px; font-weight: 700; letter-spacing: .04em; padding: 1px 6px; border-radius: 6px; margin-left: auto; }
.simulated { background: #ffe3b3; color: #7a4300; } .estimated { background: #fff1c2; color: #6b5300; } .measured { background: #d5f2de; color: #14532d; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 1px 10px; margin: 6px 0 4px; }
dt { color: #5b6e64; } dd { margin: 0; }
.foot { display: flex; gap: 10px; align-items: center; font-size: 12px; color: #5b6e64; }
a { color: #0b6b43; font-weight: 600; }
`;

/**
 * `<wattledger-meter>`: a small card a chat product puts beside an answer. Give it `src` (the
 * URL of the answer's meter JSON, e.g. `/v1/dashboard/meter/<request id>`) or set `.data`. It
 * shows the energy (Wh and J) of the comprehensive boundary with the active one beside it,
 * CO2e location- and market-based when known, water on-site and off-site, the grid zone and
 * energy source behind the factors (and that no fallback factor was used), whether the figure
 * is measured, estimated or simulated, and a "verify" link to the receipt page. `base` sets the
 * daemon's origin when the page is served elsewhere.
 */
export class WattledgerMeter extends HTMLElement {
  static observedAttributes = ['src'];
  private meter: MeterData | null = null;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLE);
    root.adoptedStyleSheets = [sheet];
  }

  set data(value: MeterData) {
    this.meter = value;
    this.render();
  }

  get data(): MeterData | null {
    return this.meter;
  }

  attributeChangedCallback(): void {
    const src = this.getAttribute('src');
    if (!src) return;
    getJson<MeterData>(src).then(
      (meter) => {
        this.data = meter;
      },
      (error: unknown) => this.renderError(String(error)),
    );
  }

  private base(): string {
    return this.getAttribute('base') ?? '';
  }

  private renderError(message: string): void {
    this.shadowRoot?.replaceChildren(el('div', 'm', `energy unavailable: ${message}`));
  }

  private render(): void {
    const m = this.meter;
    if (m === null || this.shadowRoot === null) return;
    const card = el('div', 'm');
    card.dataset.requestId = m.requestId;
    const shown = m.comprehensive ?? m.active;
    const energy = int(shown?.facilityEnergyMicroJoules ?? null);
    const top = el('div', 'top');
    top.append(
      el('span', 'e', energy === null ? 'energy unknown' : wattHours(energy)),
      el('span', 'j', energy === null ? '' : joules(energy)),
      el('span', `badge ${m.measurement}`, m.measurement.toUpperCase()),
    );
    top.querySelector('.e')?.setAttribute('data-micro-joules', energy === null ? '' : energy.toString());
    const list = el('dl');
    const row = (name: string, value: string, key: string) => {
      const dd = el('dd', '', value);
      dd.dataset.field = key;
      list.append(el('dt', '', name), dd);
    };
    const boundary = m.comprehensive
      ? 'comprehensive (GPU active + idle share + host, × PUE)'
      : 'active (GPU work only)';
    row('boundary', boundary, 'boundary');
    const active = int(m.active?.itEnergyMicroJoules ?? null);
    if (m.comprehensive && active !== null) row('active only', `${joules(active)} (GPUs working)`, 'active');
    row('CO₂e', co2Text(shown), 'co2e');
    row('water', waterText(shown), 'water');
    row('grid', gridText(m.factors), 'grid');
    row('source', sourceText(m), 'source');
    row(
      'tokens',
      `${m.inputTokens ?? '?'} in · ${m.outputTokens ?? '?'} out · ${m.model ?? 'model unknown'}`,
      'tokens',
    );
    const foot = el('div', 'foot');
    const verify = el('a', 'verify', 'verify ✓');
    verify.href = this.base() + m.verifyPath;
    verify.target = '_blank';
    verify.rel = 'noopener';
    foot.append(verify, el('span', '', 'checks the signed receipt in your browser'));
    card.append(top, list, foot);
    this.shadowRoot.replaceChildren(card);
  }
}

function co2Text(impact: Impact | null | undefined): string {
  const location = int(impact?.co2eLocationMicrograms ?? null);
  const market = int(impact?.co2eMarketMicrograms ?? null);
  if (location === null && market === null) return 'unknown (no grid zone configured)';
  const parts = [];
  if (location !== null) parts.push(`${grams(location)} location-based`);
  if (market !== null) parts.push(`${grams(market)} market-based`);
  return parts.join(' · ');
}

function waterText(impact: Impact | null | undefined): string {
  const on = int(impact?.waterOnSiteMicroliters ?? null);
  const off = int(impact?.waterOffSiteMicroliters ?? null);
  const onText = on === null ? 'on-site unknown' : `${litres(on)} on-site`;
  const offText = off === null ? 'off-site unknown' : `${litres(off)} off-site`;
  return `${onText} · ${offText}`;
}

function gridText(factors: Factors | null): string {
  const location = factors?.location;
  if (!location) return 'no zone configured: no CO₂e';
  const year = location.year === null ? '' : ` ${location.year}`;
  const g = location.gridIntensityMilligramsCo2ePerKilowattHour / 1000;
  return `${location.zoneName ?? location.zone} (${location.zone}), ${g.toFixed(0)} g/kWh, ${location.source}${year}`;
}

function sourceText(m: MeterData): string {
  const kind = m.factors?.energySource.kind ?? 'unknown';
  const description = m.factors?.energySource.description;
  const market = m.factors?.market ? `; contract: ${m.factors.market.instrument}` : '';
  const fallback = m.fallbackFactor ? '; a fallback factor was used' : '; no fallback factor';
  return `${kind}${description ? `: ${description}` : ''}${market}${fallback}`;
}

if (!customElements.get('wattledger-meter')) customElements.define('wattledger-meter', WattledgerMeter);
