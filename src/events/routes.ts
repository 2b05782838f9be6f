import type { FastifyInstance, FastifyReply } from 'fastify';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { EventApiError, type EventErrorBody, type EventProblem } from './errors.js';
import type { EventOutcome, EventProcessor } from './processor.js';
import { type EventInput, type EventSchemas, invalidEvent, parseOrThrow, problemsOf } from './schemas.js';

/** What the event routes need. */
export interface EventRouteContext {
  readonly schemas: EventSchemas;
  readonly processor: EventProcessor;
  readonly openapi: unknown;
  readonly logger?: Logger | undefined;
}

type Params = Record<string, string | undefined>;

/** No route takes a query: a stray parameter is a client mistake worth reporting. */
function queryProblems(query: unknown): EventProblem[] {
  return Object.keys((query ?? {}) as object).map((name) => ({
    path: `query.${name.slice(0, 64)}`,
    message: 'is not a known query parameter (there are none)',
  }));
}

/** The path's request id, checked like a body id; problems are added to the body's. */
function idProblems(context: EventRouteContext, params: unknown): EventProblem[] {
  const result = context.schemas.requestId.safeParse((params as Params).requestId);
  return result.success ? [] : problemsOf(result.error, ['requestId']);
}

function answer(reply: FastifyReply, outcome: EventOutcome): FastifyReply {
  return reply.code(outcome === 'accepted' ? 202 : 200).send({ status: outcome });
}

/** Registers the four event routes and `/openapi.json`. */
export function registerEventRoutes(app: FastifyInstance, context: EventRouteContext): void {
  const { schemas, processor } = context;
  app.post('/v1/requests/start', async (request, reply) => {
    const body = parseOrThrow(schemas.start, request.body, queryProblems(request.query));
    return answer(reply, processor.apply({ type: 'start', ...body }));
  });
  app.post('/v1/requests/:requestId/progress', async (request, reply) => {
    const extra = [...idProblems(context, request.params), ...queryProblems(request.query)];
    const body = parseOrThrow(schemas.progress, request.body, extra);
    const requestId = (request.params as Params).requestId!;
    return answer(reply, processor.apply({ type: 'progress', requestId, ...body }));
  });
  app.post('/v1/requests/:requestId/end', async (request, reply) => {
    const extra = [...idProblems(context, request.params), ...queryProblems(request.query)];
    const body = parseOrThrow(schemas.end, request.body, extra);
    const requestId = (request.params as Params).requestId!;
    return answer(reply, processor.apply({ type: 'end', requestId, ...body }));
  });
  app.post('/v1/requests/batch', async (request, reply) => {
    const { events } = parseOrThrow(schemas.batch, request.body, queryProblems(request.query));
    let retryAfterSeconds = 0;
    const results = events.map((event) =>
      applyOne(context, event, (seconds) => {
        retryAfterSeconds = Math.max(retryAfterSeconds, seconds);
      }),
    );
    const count = (status: string) => results.filter((r) => r.status === status).length;
    // Some events were refused for now (the in-flight bound, a ledger that cannot write): when to retry them.
    if (retryAfterSeconds > 0) reply.header('retry-after', String(retryAfterSeconds));
    const body = {
      accepted: count('accepted'),
      duplicate: count('duplicate'),
      rejected: count('rejected'),
      results,
    };
    return reply.code(200).send(body);
  });
  app.get('/openapi.json', async (request) => {
    const problems = queryProblems(request.query);
    if (problems.length > 0) throw invalidEvent(problems);
    return context.openapi;
  });
}

type BatchResult = { status: EventOutcome } | ({ status: 'rejected' } & EventErrorBody);

/**
 * One event of a batch. A batch is validated as a whole (nothing is applied when any event is
 * invalid), then applied in order; an event refused by the state (a conflict, an unknown id, the
 * in-flight bound) is reported in its result and the rest still apply, as if sent one by one.
 */
function applyOne(
  context: EventRouteContext,
  event: EventInput,
  retryAfter: (seconds: number) => void,
): BatchResult {
  try {
    return { status: context.processor.apply(event) };
  } catch (error) {
    if (error instanceof EventApiError) {
      if (error.retryAfterSeconds !== undefined) retryAfter(error.retryAfterSeconds);
      return { status: 'rejected', ...error.body() };
    }
    context.logger?.error(
      { code: 'EVENTS_INTERNAL', err: describeError(error) },
      'events: batch event failed',
    );
    return {
      status: 'rejected',
      ...new EventApiError('EVENTS_INTERNAL', 'internal error; see the server log').body(),
    };
  }
}
