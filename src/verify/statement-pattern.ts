import { BATCH_PREDICATE_TYPE, STATEMENT_TYPE } from '../attest/batch-format.js';
import { BOOL, count, DEC, INT, nullable, object, TEXT, TEXT1 } from './device-pattern.js';

/**
 * The parts of a canonical batch statement around `predicate.devices`, each read by one sticky
 * regular expression with the batch format v1 rules (as in `canonical-statement.ts`): the head up
 * to the devices (`_type`, `agent`) and the usual tail after them (no events, no factors). Anything
 * else does not match, and `canonical-statement.ts` reads the statement member by member. Only for
 * text known to hold no backslash.
 */

const literalPattern = (literal: string): string => literal.replace(/[.+/?*()[\]{}|^$\\]/g, '\\$&');
const HEX64 = '"([0-9a-f]{64})"';
const RFC3339 = '"(\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(?:\\.\\d{1,9})?Z)"';
/** z.string().max(512).min(1) and /^[^\s+]+$/, no quote, backslash or control character. */
const ORIGIN = '"([^\\s+"\\\\\\u0000-\\u001f]{1,512})"';
const opt = (name: string, pattern: string): string => `(?:,"${name}":${pattern})?`;

/** Agent members, in RFC 8785 order; optional ones are absent when their group is undefined. */
const AGENT_MEMBERS = [
  'configSha256',
  'cpuBrand',
  'hostId',
  'hostIdSource',
  'hostname',
  'kernelRelease',
  'keyId',
  'osDistro',
  'runId',
  'softwareVersion',
  'systemModel',
  'systemSerial',
  'systemUuid',
] as const;

const HEAD = new RegExp(
  `\\{"_type":"${literalPattern(STATEMENT_TYPE)}","predicate":\\{"agent":` +
    `\\{"configSha256":${HEX64}${opt('cpuBrand', TEXT)},"hostId":${TEXT1},"hostIdSource":${TEXT}` +
    `${opt('hostname', TEXT)}${opt('kernelRelease', TEXT)},"keyId":${TEXT1}${opt('osDistro', TEXT)}` +
    `,"runId":${TEXT1},"softwareVersion":${TEXT}${opt('systemModel', TEXT)}${opt('systemSerial', TEXT)}` +
    `${opt('systemUuid', TEXT)}\\},"devices":`,
  'y',
);

const TAIL = new RegExp(
  `,"events":\\[\\],"factors":null,"formatVersion":1,"origin":${ORIGIN}` + // 1
    `,"previousSha256":${nullable(HEX64)}` + // 2
    `,"requests":${object([
      ['attributionMethod', TEXT], // 3
      ['count', INT], // 4
      ['merkleRootSha256', HEX64], // 5
    ])}` +
    `,"sequence":${DEC},"simulated":${BOOL}` + // 6, 7
    `,"totals":${object([
      ['cpuEnergyMicroJoules', DEC], // 8
      ['dramEnergyMicroJoules', DEC], // 9
      ['energyMicroJoules', DEC], // 10
      ['gpuEnergyMicroJoules', DEC], // 11
    ])}` +
    `,"window":${object([
      ['downtimeNanos', DEC], // 12
      ['endMonoNanos', DEC], // 13
      ['endUnixNanos', DEC], // 14
      ['endedAt', RFC3339], // 15
      ['startMonoNanos', DEC], // 16
      ['startUnixNanos', DEC], // 17
      ['startedAt', RFC3339], // 18
    ])}` +
    `\\},"predicateType":"${literalPattern(BATCH_PREDICATE_TYPE)}"` +
    `,"subject":\\[\\{"digest":\\{"sha256":${HEX64}\\},"name":${TEXT}\\}\\]\\}`, // 19, 20
  'y',
);

/** The agent, and where the devices array starts; null when the head is not of the usual shape. */
export function readStatementHead(text: string): { agent: Record<string, unknown>; end: number } | null {
  HEAD.lastIndex = 0;
  const m = HEAD.exec(text);
  if (m === null) return null;
  const agent: Record<string, unknown> = {};
  for (let i = 0; i < AGENT_MEMBERS.length; i++) {
    const value = m[i + 1];
    if (value !== undefined) agent[AGENT_MEMBERS[i] as string] = value;
  }
  return { agent, end: HEAD.lastIndex };
}

/**
 * The statement from its agent and devices and the tail that must run from `pos` to the end of
 * `text`; null when the tail is not of the usual shape.
 */
export function readStatementTail(
  text: string,
  pos: number,
  agent: Record<string, unknown>,
  devices: unknown[],
): Record<string, unknown> | null {
  TAIL.lastIndex = pos;
  const m = TAIL.exec(text);
  if (m === null || TAIL.lastIndex !== text.length) return null;
  const g = m as unknown as (string | undefined)[];
  const requestCount = count(g[4] as string);
  if (requestCount === undefined) return null;
  return {
    _type: STATEMENT_TYPE,
    predicate: {
      agent,
      devices,
      events: [],
      factors: null,
      formatVersion: 1,
      origin: g[1],
      previousSha256: g[2] ?? null,
      requests: { attributionMethod: g[3], count: requestCount, merkleRootSha256: g[5] },
      sequence: g[6],
      simulated: g[7] === 'true',
      totals: {
        cpuEnergyMicroJoules: g[8],
        dramEnergyMicroJoules: g[9],
        energyMicroJoules: g[10],
        gpuEnergyMicroJoules: g[11],
      },
      window: {
        downtimeNanos: g[12],
        endMonoNanos: g[13],
        endUnixNanos: g[14],
        endedAt: g[15],
        startMonoNanos: g[16],
        startUnixNanos: g[17],
        startedAt: g[18],
      },
    },
    predicateType: BATCH_PREDICATE_TYPE,
    subject: [{ digest: { sha256: g[19] }, name: g[20] }],
  };
}
