import type { DecimalString } from '../attribution/types.js';
import type { FactorSnapshot, ImpactWire } from '../factors/index.js';

/**
 * The `wattledger` object the proxy can put into a response (`proxy.inlineEnergy`): the request's
 * energy, CO2e and water once its record exists, or `status: "pending"` when the record did not
 * come within `proxy.inlineEnergyMaxWaitMs`. docs/PROXY.md documents the shape; it is not signed
 * (the receipt is the verifiable form).
 */
export type InlineEnergy = InlineEnergyFinal | InlineEnergyPending;

/** The record came in time. */
export type InlineEnergyFinal = {
  readonly status: 'final';
  readonly requestId: string;
  /** Where the signed record's receipt is served (the `x-wattledger-receipt` header's value). */
  readonly receipt: string;
  /** Some share was split by time or partial tokens, usage was missing, or a device never caught up. */
  readonly estimated: boolean;
  readonly energy: {
    /** The accelerators' active energy while serving the request (no idle share, no PUE). */
    readonly active: EnergyAmount;
    /** Active + idle share + host, × PUE: null where the daemon does not fill that boundary. */
    readonly comprehensive: (EnergyAmount & { readonly pueMilli: number }) | null;
  };
  /** Of the comprehensive boundary when it is there, else of the active one. */
  readonly co2e: {
    readonly boundary: 'active' | 'comprehensive';
    /** Location-based; null without a configured zone. */
    readonly locationMicrograms: DecimalString | null;
    /** Market-based, operator-supplied; null unless configured. */
    readonly marketMicrograms: DecimalString | null;
  };
  readonly water: {
    readonly boundary: 'active' | 'comprehensive';
    readonly onSiteMicroliters: DecimalString;
    /** Null when the off-site factor (EWIF) is unknown. */
    readonly offSiteMicroliters: DecimalString | null;
    readonly microliters: DecimalString | null;
  };
  /** Where the grid intensity came from; null without a zone. */
  readonly factorSource: {
    readonly zone: string;
    readonly source: string;
    readonly dataset: string | null;
    readonly year: number | null;
  } | null;
};

/** No record within the wait: fetch the receipt later. */
export type InlineEnergyPending = {
  readonly status: 'pending';
  readonly requestId: string;
  readonly receipt: string;
};

/** An energy in exact µJ (decimal string) and in J (a JSON number, for display). */
export type EnergyAmount = { readonly microJoules: DecimalString; readonly joules: number };

/** What {@link inlineEnergyOf} reads from a sealed record. */
export type InlineRecordFields = {
  readonly requestId: string;
  readonly estimated: boolean;
  readonly activeEnergyMicroJoules: DecimalString;
  readonly activeImpact: ImpactWire;
  readonly comprehensive: ImpactWire | null;
};

/** The receipt path of a request, as the `x-wattledger-receipt` header gives it. */
export function receiptPath(requestId: string): string {
  return `/v1/receipts/${requestId}`;
}

/** The `wattledger` object of a request whose record is sealed. */
export function inlineEnergyOf(record: InlineRecordFields, factors: FactorSnapshot): InlineEnergyFinal {
  const comprehensive = record.comprehensive;
  const impact = comprehensive ?? record.activeImpact;
  const location = factors.location;
  return {
    status: 'final',
    requestId: record.requestId,
    receipt: receiptPath(record.requestId),
    estimated: record.estimated,
    energy: {
      active: amount(record.activeEnergyMicroJoules),
      comprehensive:
        comprehensive === null
          ? null
          : { ...amount(comprehensive.facilityEnergyMicroJoules), pueMilli: comprehensive.pueMilli },
    },
    co2e: {
      boundary: impact.boundary,
      locationMicrograms: impact.co2eLocationMicrograms,
      marketMicrograms: impact.co2eMarketMicrograms,
    },
    water: {
      boundary: impact.boundary,
      onSiteMicroliters: impact.waterOnSiteMicroliters,
      offSiteMicroliters: impact.waterOffSiteMicroliters,
      microliters: impact.waterMicroliters,
    },
    factorSource:
      location === null
        ? null
        : { zone: location.zone, source: location.source, dataset: location.dataset, year: location.year },
  };
}

/** The `wattledger` object when the record did not come in time. */
export function pendingEnergy(requestId: string): InlineEnergyPending {
  return { status: 'pending', requestId, receipt: receiptPath(requestId) };
}

function amount(microJoules: DecimalString): EnergyAmount {
  return { microJoules, joules: Number(microJoules) / 1e6 };
}
