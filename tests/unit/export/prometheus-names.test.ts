import { describe, expect, it } from 'vitest';
import { prometheusMetricName } from '../../../src/export/prometheus-names.js';

// Expected names are those Prometheus' OTLP translator gives by default (UnderscoreEscapingWithSuffixes),
// so that a query works whether the series were scraped or arrived through a collector.
describe('prometheusMetricName', () => {
  it.each([
    ['hw.energy', 'J', 'counter', 'hw_energy_joules_total'],
    ['hw.power', 'W', 'gauge', 'hw_power_watts'],
    ['hw.gpu.utilization', '1', 'gauge', 'hw_gpu_utilization_ratio'],
    ['gen_ai.server.request.duration', 's', 'histogram', 'gen_ai_server_request_duration_seconds'],
    ['wattledger.request.energy', 'J', 'histogram', 'wattledger_request_energy_joules'],
    ['wattledger.request.co2e', 'g', 'histogram', 'wattledger_request_co2e_grams'],
    // No Prometheus word for litres: the unit is kept as written, as the translator does.
    ['wattledger.request.water', 'L', 'histogram', 'wattledger_request_water_L'],
    // Annotations carry no unit suffix; `1` adds nothing to counters and histograms.
    ['gen_ai.client.token.usage', '{token}', 'histogram', 'gen_ai_client_token_usage'],
    ['requests', '1', 'counter', 'requests_total'],
    ['network.io', 'By/s', 'gauge', 'network_io_bytes_per_second'],
    // A unit word or `_total` already in the name is not repeated.
    ['energy.joules', 'J', 'counter', 'energy_joules_total'],
    ['tokens.total', '{token}', 'counter', 'tokens_total'],
    ['load.ratio', '1', 'gauge', 'load_ratio'],
    ['2xx.count', '', 'counter', '_2xx_count_total'],
  ] as const)('%s (%s, %s) → %s', (name, unit, kind, expected) => {
    expect(prometheusMetricName(name, unit, kind)).toBe(expected);
  });
});
