import { defineConfig } from 'vitest/config';

// Tests run from TypeScript sources. The global setup compiles `dist/` first (incremental tsc), because
// e2e tests spawn the built CLI and a few tests run compiled modules in child processes; so no test
// ever runs a stale or missing build. The second reporter lists every skipped test with its reason.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/setup/build.ts'],
    reporters: ['default', './tests/setup/skip-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
