import { describe, expect, it } from 'vitest';
import { runScenario } from '../../../src/harness/accuracy.js';
import { scenario } from '../../../src/harness/scenarios.js';

/**
 * The accuracy harness end to end: a simulated node whose per-request energy is known by
 * construction, measured through the real meter, proxy (real loopback HTTP) and attributor.
 */
describe('accuracy harness', () => {
  it('matched costs: mean per-request error ≤ 2 % and exact conservation', async () => {
    const report = await runScenario(scenario('matched'), { durationMs: 4000 });
    expect(report.load.failed).toBe(0);
    expect(report.unmatched).toBe(0);
    expect(report.errors.requests).toBe(report.load.sent);
    expect(report.errors.requests).toBeGreaterThanOrEqual(30);
    expect(report.errors.meanPercent).toBeLessThanOrEqual(2);
    expect(report.estimatedRecords).toBe(0);
    const c = report.conservation;
    expect(c.exact).toBe(true);
    expect(c.recordsMicroJoules + c.idleMicroJoules + c.unattributedMicroJoules).toBe(c.measuredMicroJoules);
    // The comprehensive boundary: idle = Σ records' idle shares + unshared idle, exactly. Requests
    // are in flight almost all the time here, so nearly all idle is shared.
    expect(c.recordsIdleShareMicroJoules + c.idleUnsharedMicroJoules).toBe(c.idleMicroJoules);
    expect(c.idleResidualMicroJoules).toBe(0n);
    expect(c.recordsIdleShareMicroJoules).toBeGreaterThan((c.idleMicroJoules * 9n) / 10n);
    // With an mJ counter the meter misses less than 1 mJ of the truth over the whole run.
    expect(report.measuredMinusTrueMicroJoules < 1000n).toBe(true);
    expect(report.measuredMinusTrueMicroJoules > -1000n).toBe(true);
  });

  it('mismatched costs: the error is reported, conservation still exact', async () => {
    const report = await runScenario(scenario('mismatched-costs'), { durationMs: 3000 });
    expect(report.load.failed).toBe(0);
    expect(report.errors.requests).toBe(report.load.sent);
    for (const value of [report.errors.meanPercent, report.errors.p95Percent, report.errors.maxPercent]) {
      expect(Number.isFinite(value)).toBe(true);
      expect(value).toBeGreaterThan(0);
    }
    expect(report.errors.p95Percent).toBeGreaterThanOrEqual(report.errors.meanPercent);
    expect(report.errors.maxPercent).toBeGreaterThanOrEqual(report.errors.p95Percent);
    expect(report.conservation.exact).toBe(true);
    expect(report.conservation.residualMicroJoules).toBe(0n);
    expect(report.conservation.idleResidualMicroJoules).toBe(0n);
  });

  it('fitted costs: closer to the truth than the configured a:b where the server’s costs differ', async () => {
    const s = scenario('mismatched-costs');
    const configured = await runScenario(s, { durationMs: 8000 });
    const fitted = await runScenario({ ...s, costModel: 'fitted' }, { durationMs: 8000 });
    expect(fitted.conservation.exact).toBe(true);
    expect(fitted.errors.requests).toBe(fitted.load.sent);
    expect(fitted.errors.meanPercent).toBeLessThan(configured.errors.meanPercent / 2);
  });

  it('low load: learns the true idle power from the gaps; much idle stays unshared; still exact', async () => {
    const report = await runScenario(scenario('low-load-learned-idle'), { durationMs: 40_000 });
    expect(report.load.failed).toBe(0);
    expect(report.errors.requests).toBe(report.load.sent);
    // The node idles at 100 W by construction; the configured guess was 60 W.
    expect(report.idleBaseline?.source).toBe('learned');
    expect(Math.abs((report.idleBaseline?.powerMilliWatts ?? 0) - 100_000)).toBeLessThanOrEqual(20);
    const c = report.conservation;
    expect(c.exact).toBe(true);
    expect(c.recordsIdleShareMicroJoules + c.idleUnsharedMicroJoules).toBe(c.idleMicroJoules);
    // At one request every 8 s, most idle energy falls between requests: no request shares it.
    expect(c.idleUnsharedMicroJoules).toBeGreaterThan(c.recordsIdleShareMicroJoules);
  });
});
