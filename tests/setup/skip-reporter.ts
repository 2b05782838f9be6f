import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints, after vitest's own summary, every skipped test with the reason it gave
 * (`ctx.skip(reason)`, see tests/helpers/skip.ts), grouped by reason; a skip without a reason
 * is listed as such so it can be found and given one.
 */
export default class SkipReasonReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const byReason = new Map<string, string[]>();
    for (const module of testModules) {
      for (const test of module.children.allTests('skipped')) {
        const result = test.result();
        const reason = (result.state === 'skipped' ? result.note : undefined) ?? 'no reason given';
        const names = byReason.get(reason) ?? [];
        names.push(`${module.moduleId.replace(`${process.cwd()}/`, '')} › ${test.fullName}`);
        byReason.set(reason, names);
      }
    }
    if (byReason.size === 0) return;
    const lines = ['', ' Skipped, and why:'];
    for (const [reason, names] of byReason) {
      lines.push(`   ${reason} (${names.length})`);
      for (const name of names.slice(0, 5)) lines.push(`     - ${name}`);
      if (names.length > 5) lines.push(`     - … and ${names.length - 5} more`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}
