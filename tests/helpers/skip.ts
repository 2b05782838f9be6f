import { describe, it, type TestContext } from 'vitest';

/**
 * `describe` that runs its suite when `reason` is undefined. Otherwise it registers one skipped
 * test carrying the reason (vitest's skip note), so the run's summary says what could not run
 * and why (tests/setup/skip-reporter.ts lists every note), never a silent skip.
 */
export function describeUnless(reason: string | undefined): (name: string, body: () => void) => void {
  return (name, body) => {
    if (reason === undefined) describe(name, body);
    else describe(name, () => it('cannot run here', (ctx) => ctx.skip(reason)));
  };
}

type TestBody = (ctx: TestContext) => unknown;

/** `it` that runs when `reason` is undefined, and is otherwise skipped with the reason as its note. */
export function itUnless(
  reason: string | undefined,
): (name: string, body: TestBody, timeoutMs?: number) => void {
  return (name, body, timeoutMs) =>
    it(
      name,
      (ctx) => {
        if (reason !== undefined) ctx.skip(reason);
        return body(ctx);
      },
      timeoutMs,
    );
}
