// Mutation testing: `npm run mutation` (all four folders, long) or `npm run mutation -- --mutate src/proxy/relay.ts`.
// Not in CI. See docs/testing.md ("Mutation testing") for how to read the report.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  mutate: [
    'machines/**/*.ts',
    'src/proxy/**/*.ts',
    'src/pool/**/*.ts',
    'src/protocol/**/*.ts',
    // Types, re-exports and the registry of modes: nothing to mutate that a test could observe.
    '!machines/**/*.types.ts',
    '!machines/index.ts',
    '!src/protocol/index.ts',
  ],
  // Each mutant runs only the tests that executed its code during the first (dry) run.
  coverageAnalysis: 'perTest',
  // Module-level code (tables, `setup({...})` of the machines) runs at import, before any test: such
  // "static" mutants would need the whole suite each. Stryker reports them as ignored; set
  // --ignoreStatic false to pay for them.
  ignoreStatic: true,
  // Two shared cores: one mutant at a time.
  concurrency: 1,
  // A mutant that loops (a cursor that never advances) is a timeout, counted as killed.
  timeoutMS: 5_000,
  timeoutFactor: 1.5,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  ignorePatterns: ['dist', 'reports', 'bench', '.stryker-tmp', 'test/coverage'],
  thresholds: { high: 80, low: 60, break: null },
};
