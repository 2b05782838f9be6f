import { defineConfig } from 'vitest/config';

// Tests run from TypeScript sources; e2e tests spawn the built CLI (`npm test` builds first).
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
