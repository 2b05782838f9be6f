/**
 * Carbon and water factors: the snapshot a batch carries and the exact integer arithmetic that
 * turns a request's energy into CO2e and water (docs/FACTORS.md).
 */
export { type DatasetIntensity, GRID_DATA_PACKAGE, lookupGridIntensity } from './grid-data.js';
export {
  activeImpact,
  type Boundary,
  type BoundaryImpact,
  type ComprehensiveImpact,
  type ComprehensiveInputs,
  co2eMicrograms,
  comprehensiveImpact,
  facilityEnergyMicroJoules,
  floorQuotient,
  MICROJOULES_PER_KILOWATT_HOUR,
  waterOffSiteMicroliters,
  waterOnSiteMicroliters,
} from './impact.js';
export {
  type ComprehensiveImpactWire,
  comprehensiveToWire,
  type ImpactWire,
  impactToWire,
  recordActiveImpact,
  withComprehensive,
} from './record-impact.js';
export {
  buildFactorSnapshot,
  type EnergySource,
  type FactorSnapshot,
  type FactorsConfig,
  type LocationFactor,
  type MarketFactor,
  type WaterFactors,
} from './snapshot.js';
