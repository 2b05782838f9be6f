/**
 * What an nvidia-smi power field means on a given GPU, with the source of the rule. From
 * `nvidia-smi --help-query-gpu` (captured on an RTX 2080 SUPER, driver 595.71.05, in
 * tests/fixtures/nvidia-smi-csv): `power.draw` "On Ampere or newer devices, returns average power
 * draw over 1 sec. On older devices, returns instantaneous power draw."; `power.draw.average` is
 * "Only available if … Ampere (except GA100) or newer", i.e. GA100 (A100, A30) has no 1 s average
 * and its `power.draw` is instantaneous; `power.draw.instant` is instantaneous everywhere.
 */
import type { PowerSemantics } from './types.js';

/** The field sampled and what it means, with where that rule comes from. */
export interface SmiPowerSemantics {
  readonly field: 'power.draw.instant' | 'power.draw';
  readonly semantics: PowerSemantics;
  /** The architecture the rule was applied to (`Turing`, `Ampere GA100`, …), or `unknown`. */
  readonly architecture: string;
  /** Where the architecture came from: `-q -x product_architecture`, `product name`, or `none`. */
  readonly architectureSource: 'product_architecture' | 'product name' | 'none';
  /** The rule and its source, for the batch's device details and `probe`. */
  readonly rule: string;
}

const HELP = 'nvidia-smi --help-query-gpu';

/** GA100 boards: the one Ampere chip whose power.draw is instantaneous. */
const GA100_NAME = /\b(A100|A30)\b/i;

/** Older-than-Ampere boards by marketing name, for documents without `product_architecture`. */
const NAME_RULES: readonly (readonly [RegExp, string])[] = [
  [/\b(K\d{2}|GTX ?(6|7)\d0|Quadro K\d+)\b/i, 'Kepler'],
  [/\b(M\d{2}|GTX ?9\d0|Quadro M\d+)\b/i, 'Maxwell'],
  [/\b(P100|P40|P4|P6|GTX ?10\d0|GT ?10\d0|TITAN X[p ]|Quadro P\d+)\b/i, 'Pascal'],
  [/\b(V100|TITAN V|Quadro GV100)\b/i, 'Volta'],
  [/\b(T4|RTX ?20\d0|GTX ?16\d0|Quadro RTX|TITAN RTX|Quadro T\d+)\b/i, 'Turing'],
  [GA100_NAME, 'Ampere'],
  [/\b(A\d{1,2}G?|RTX A\d+|RTX ?30\d0)\b/i, 'Ampere'],
  [/\b(L4|L40S?|RTX ?40\d0|RTX \d+ (SFF )?Ada)\b/i, 'Ada Lovelace'],
  [/\b(H100|H200|H800|GH200)\b/i, 'Hopper'],
  [/\b(B100|B200|GB200|RTX PRO \d+ Blackwell|RTX ?50\d0)\b/i, 'Blackwell'],
];

const BEFORE_AMPERE = new Set(['Kepler', 'Maxwell', 'Pascal', 'Volta', 'Turing']);

/** The semantics of the field this stream samples on the GPU described. */
export function smiPowerSemantics(
  gpu: { readonly name: string; readonly architecture: string | undefined },
  useInstant: boolean,
): SmiPowerSemantics {
  const byName = NAME_RULES.find(([pattern]) => pattern.test(gpu.name))?.[1];
  const family = gpu.architecture ?? byName;
  const architectureSource = gpu.architecture ? 'product_architecture' : byName ? 'product name' : 'none';
  const architecture =
    family === undefined
      ? 'unknown'
      : family === 'Ampere' && GA100_NAME.test(gpu.name)
        ? 'Ampere GA100'
        : family;
  if (useInstant) {
    const rule = `${HELP}: power.draw.instant is the instantaneous board power on every architecture`;
    return { field: 'power.draw.instant', semantics: 'instant', architecture, architectureSource, rule };
  }
  if (family !== undefined && (BEFORE_AMPERE.has(family) || architecture === 'Ampere GA100')) {
    const rule = `${HELP}: power.draw is instantaneous before Ampere and on GA100 (${architecture})`;
    return { field: 'power.draw', semantics: 'instant', architecture, architectureSource, rule };
  }
  const rule =
    family === undefined
      ? `${HELP}: power.draw is a 1 s average on Ampere and newer; architecture unknown, assumed Ampere or newer`
      : `${HELP}: power.draw is a 1 s average on Ampere and newer except GA100 (${architecture})`;
  return { field: 'power.draw', semantics: 'average-1s', architecture, architectureSource, rule };
}
