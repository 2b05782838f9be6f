/**
 * Types for the data subpath of `@tgwf/co2` (the package ships none; `@types/tgwf__co2` would be
 * a second dependency for three shapes). Only what `grid-data.ts` reads is declared, and it is
 * declared loosely (`number` may still be a float) because the values are checked at run time.
 */
declare module '@tgwf/co2/data' {
  /** Ember yearly country / region averages, gCO2e/kWh, keyed by ISO 3166 alpha-3 or region name. */
  export const averageIntensity: {
    readonly data: Readonly<Record<string, number>>;
    readonly type: string;
  };

  /** One Electricity Maps zone's yearly figures. */
  export interface ElectricityMapsZone {
    readonly zone: {
      readonly zoneName?: string;
      readonly displayName?: string;
      readonly countryName?: string;
    };
    readonly carbonIntensity: { readonly value: number; readonly unit: string };
  }

  /** Electricity Maps yearly zone data, one member per year (`yearly2025`). */
  export const electricityMaps: Readonly<
    Record<
      string,
      {
        readonly data: Readonly<Record<string, ElectricityMapsZone>>;
        readonly methodology: string;
      }
    >
  >;
}
