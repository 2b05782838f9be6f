import { z } from 'zod';
import type { Clock } from '../clock.js';
import { EventApiError, type EventProblem } from './errors.js';
import { parseRfc3339, timeWindowProblem } from './time.js';

/**
 * Strict validation of every body the event API takes. Unknown fields are refused (a misspelt
 * `outputToken` must not silently become "no tokens"), and every problem is reported at once with
 * its path, so an integrator fixes a payload in one round trip.
 */

/** Request ids: 1–128 characters, letters, digits and `._:-` (safe in paths, logs and records). */
export const EVENT_ID_PATTERN = '^[A-Za-z0-9._:-]{1,128}$';
/** Model names: 1–256 printable ASCII characters without spaces (`org/model-8B-Instruct`). */
export const MODEL_PATTERN = '^[!-~]{1,256}$';
/** W3C trace id: 32 lowercase hex digits, not all zero. */
export const TRACE_ID_PATTERN = '^(?!0{32}$)[0-9a-f]{32}$';
/** Largest token count accepted (far above any context window; keeps sums exact). */
export const MAX_TOKENS = 1_000_000_000;
/** Most events in one batch. */
export const MAX_BATCH_EVENTS = 1000;
export const OPERATIONS = ['chat', 'completion', 'embedding', 'responses', 'other'] as const;
export const OUTCOMES = ['ok', 'error', 'cancelled'] as const;

const ID_TEXT = 'must be 1 to 128 characters of A-Z, a-z, 0-9, ".", "_", ":" or "-"';
const TOKENS_TEXT = `must be an integer from 0 to ${MAX_TOKENS}`;
const TIME_TEXT = 'must be an RFC 3339 date-time such as 2025-11-24T15:04:05.123Z';
/** Problems spelt out in an error message; the `problems` array always has all of them. */
const MESSAGE_PROBLEMS = 10;
/** Marks the issue of an unknown engine, so that such a failure gets its own code. */
const UNKNOWN_ENGINE = 'unknown-engine';

const id = () => z.string({ error: ID_TEXT }).regex(new RegExp(EVENT_ID_PATTERN), { error: ID_TEXT });
const tokenCount = () =>
  z.int({ error: TOKENS_TEXT }).min(0, { error: TOKENS_TEXT }).max(MAX_TOKENS, { error: TOKENS_TEXT });

/** An RFC 3339 time inside the accepted window, as Unix nanoseconds. */
function time(clock: Clock) {
  return z.string({ error: TIME_TEXT }).transform((text, ctx) => {
    const t = parseRfc3339(text);
    const problem = t === null ? TIME_TEXT : timeWindowProblem(t, clock.wallUnixNanos());
    if (t === null || problem !== null) {
      ctx.issues.push({ code: 'custom', message: problem ?? TIME_TEXT, input: text });
      return z.NEVER;
    }
    return t;
  });
}

const usage = () =>
  z
    .strictObject({
      inputTokens: tokenCount(),
      cachedInputTokens: tokenCount().optional(),
      outputTokens: tokenCount(),
    })
    .refine((u) => (u.cachedInputTokens ?? 0) <= u.inputTokens, {
      error: 'must not exceed inputTokens',
      path: ['cachedInputTokens'],
    });

/** The start body; an engine outside `engines` is refused with the list of known ones. */
function startSchema(clock: Clock, engines: readonly string[]) {
  const known = new Set(engines);
  const engineText = `is not a known engine; known engines: ${engines.join(', ')}`;
  return z.strictObject({
    requestId: id(),
    // Every known engine id is a valid id, so membership is the whole check.
    engineId: z.string({ error: engineText }).refine((e) => known.has(e), {
      error: engineText,
      params: { kind: UNKNOWN_ENGINE },
    }),
    model: z
      .string()
      .regex(new RegExp(MODEL_PATTERN), { error: 'must be 1 to 256 printable characters' })
      .optional(),
    operation: z.enum(OPERATIONS).optional(),
    traceId: z
      .string()
      .regex(new RegExp(TRACE_ID_PATTERN), { error: 'must be 32 lowercase hex digits' })
      .optional(),
    startedAt: time(clock).optional(),
  });
}

/** The body schemas of one server: times are checked against its clock, engines against its list. */
export function createEventSchemas(options: { clock: Clock; engines: readonly string[] }) {
  const start = startSchema(options.clock, options.engines);
  const progress = z.strictObject({ outputTokens: tokenCount(), at: time(options.clock).optional() });
  const end = z.strictObject({
    outcome: z.enum(OUTCOMES),
    usage: usage().optional(),
    endedAt: time(options.clock).optional(),
  });
  const item = z.discriminatedUnion(
    'type',
    [
      start.extend({ type: z.literal('start') }),
      progress.extend({ type: z.literal('progress'), requestId: id() }),
      end.extend({ type: z.literal('end'), requestId: id() }),
    ],
    { error: 'must be "start", "progress" or "end"' },
  );
  const batch = z.strictObject({
    events: z
      .array(item)
      .min(1, { error: 'must hold at least one event' })
      .max(MAX_BATCH_EVENTS, { error: `must hold at most ${MAX_BATCH_EVENTS} events` }),
  });
  return { start, progress, end, batch, requestId: id() };
}

/** The schemas {@link createEventSchemas} makes. */
export type EventSchemas = ReturnType<typeof createEventSchemas>;

/** One validated event of any kind (what a batch holds; single routes build the same). */
export type EventInput = z.output<EventSchemas['batch']>['events'][number];
/** A validated start. */
export type StartInput = Extract<EventInput, { type: 'start' }>;
/** A validated progress with its request id. */
export type ProgressInput = Extract<EventInput, { type: 'progress' }>;
/** A validated end with its request id. */
export type EndInput = Extract<EventInput, { type: 'end' }>;

/** `events[3].usage.inputTokens` from a zod path. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path)
    out += typeof part === 'number' ? `[${part}]` : `${out === '' ? '' : '.'}${String(part)}`;
  return out === '' ? '(body)' : out;
}

/** Every problem of a failed parse, one per unknown field, paths under `prefix`. */
export function problemsOf(error: z.ZodError, prefix: readonly PropertyKey[] = []): EventProblem[] {
  return error.issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys')
      return issue.keys.map((key) => ({ path: formatPath([...path, key]), message: 'is not a known field' }));
    return [{ path: formatPath(path), message: issue.message }];
  });
}

/** True when every issue is an unknown engine (then the answer gets its own code). */
function onlyUnknownEngines(error: z.ZodError): boolean {
  return error.issues.every(
    (issue) =>
      issue.code === 'custom' && (issue.params as { kind?: string } | undefined)?.kind === UNKNOWN_ENGINE,
  );
}

/**
 * Parses `value` with `schema`; throws `EVENTS_INVALID` (or `EVENTS_UNKNOWN_ENGINE`) listing every
 * problem, together with `extra` problems found outside the body (path parameters, the query).
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  extra: EventProblem[] = [],
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success && extra.length === 0) return result.data;
  const problems = [...extra, ...(result.success ? [] : problemsOf(result.error))];
  if (!result.success && extra.length === 0 && onlyUnknownEngines(result.error))
    throw new EventApiError('EVENTS_UNKNOWN_ENGINE', `engineId ${problems[0]?.message}`, { problems });
  throw invalidEvent(problems);
}

/** `EVENTS_INVALID` listing `problems` (at least one). */
export function invalidEvent(problems: readonly EventProblem[]): EventApiError {
  // The message stays readable for a 1000-event batch; `problems` holds every one.
  const shown = problems.slice(0, MESSAGE_PROBLEMS).map((p) => `${p.path}: ${p.message}`);
  if (problems.length > MESSAGE_PROBLEMS) shown.push(`and ${problems.length - MESSAGE_PROBLEMS} more`);
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return new EventApiError('EVENTS_INVALID', `invalid event (${count}): ${shown.join('; ')}`, { problems });
}
