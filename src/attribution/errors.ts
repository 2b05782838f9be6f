import { BaseError } from '../errors.js';

/**
 * `ATTRIBUTION_INVALID_OPTIONS`: the engines, host devices, weights or delays given to the
 * attributor contradict each other (every problem is listed in the message).
 * `ATTRIBUTION_CONSERVATION_VIOLATED`: a split did not add up to the measured energy; a bug, never
 * a data condition, so it stops rather than sign a wrong number.
 */
export type AttributionErrorCode = 'ATTRIBUTION_INVALID_OPTIONS' | 'ATTRIBUTION_CONSERVATION_VIOLATED';

/** An attribution failure with a stable code. */
export class AttributionError extends BaseError<AttributionErrorCode> {}
