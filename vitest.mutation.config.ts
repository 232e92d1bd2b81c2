/**
 * The tests Stryker runs against each mutant (`npm run mutation`, stryker.config.mjs): unit and
 * model-based tests, which exercise machines/, src/protocol/, src/proxy/ and src/pool/ on real
 * sockets in a few seconds. Left out: test/unit/dev/ (starts PostgreSQL clusters, mutates nothing we
 * measure) and test/integration/ (a cluster per file: minutes per mutant). Set
 * GATEHOUSE_MUTATION_INTEGRATION=1 to add the pooling and backend integration suites, the only tests
 * of src/pool/pool.ts today (slow: run it for one file, `-- --mutate src/pool/pool.ts`).
 */
import { defineConfig } from 'vitest/config';

const integration = process.env.GATEHOUSE_MUTATION_INTEGRATION === '1'
  ? ['test/integration/pooling.test.ts', 'test/integration/backend-failures.test.ts', 'test/integration/backend-lifecycle.test.ts']
  : [];

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/model/**/*.test.ts', ...integration],
    exclude: ['test/unit/dev/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
