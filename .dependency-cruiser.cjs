/**
 * Import rules for gatehouse (DESIGN.md §1–2). Run with `npm run lint:deps`; `.ci/run` runs it too.
 *
 *   cli.ts, demo.ts
 *     └─► proxy/                         one client's life after login, listener, relay, cancel routing
 *           └─► driver/ | pool/           sockets <-> actors | server connections
 *                 └─► machines/ | protocol/ | tls/ | auth/ | config/
 *   observability/, journal/ : services that driver/, pool/ and proxy/ may use; they never call back up.
 *   diagrams/                : rendering of machines/, used by the CLI, journal replay and the viewer.
 *   dev/                     : throwaway PostgreSQL clusters and certificates, for `gatehouse demo` and tests only.
 *
 * Type-only imports count (tsPreCompilationDeps): a type that points up the layers is still a
 * dependency on the layer above, and it is how the next runtime import sneaks in.
 */

/** A path regex for one folder (or file) under src/. */
const src = (name) => `^src/${name}`;
const LIB = '^src/(protocol|tls|auth|config)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'Imports run one way (DESIGN.md §1). A cycle means two modules own each other; split or invert one edge.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-folder-cycle',
      severity: 'error',
      comment:
        'The same at folder level: driver/ → proxy/ → driver/ is a cycle between layers even when no single file closes it ' +
        '(DESIGN.md §1: nothing below imports anything above it).',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
    {
      name: 'machines-are-pure',
      severity: 'error',
      comment:
        'Machines are pure definitions (DESIGN.md §1): they import only xstate, each other and the SQLSTATE codes. ' +
        'No node:* modules, no sockets, timers or other packages; an effect is an emitted command the driver carries out.',
      from: { path: '^machines/' },
      to: {
        pathNot: ['^machines/', '^src/protocol/sqlstate\\.ts$', '(^|/)node_modules/xstate/'],
      },
    },
    {
      name: 'driver-not-to-proxy',
      severity: 'error',
      comment:
        'driver/ turns socket facts into events and carries out commands; the session after login (acquire, welcome, ' +
        'cancel key, relay) belongs to proxy/, which imports the driver, never the reverse (issue 8, item 1).',
      from: { path: src('driver/') },
      to: { path: src('proxy/') },
    },
    {
      name: 'pool-not-to-proxy',
      severity: 'error',
      comment: 'pool/ sits below proxy/ (DESIGN.md §1): the pool hands out server connections and knows nothing of sessions.',
      from: { path: src('pool/') },
      to: { path: src('proxy/') },
    },
    {
      name: 'nothing-imports-the-cli',
      severity: 'error',
      comment: 'cli.ts is the entry point: nothing imports it (demo.ts is loaded by the CLI, not the other way round).',
      from: {},
      to: { path: '^src/cli\\.ts$' },
    },
    {
      name: 'only-cli-imports-demo',
      severity: 'error',
      comment: 'demo.ts starts an embedded PostgreSQL; only the CLI loads it, lazily, for `gatehouse demo`.',
      from: { pathNot: '^src/cli\\.ts$' },
      to: { path: '^src/demo\\.ts$' },
    },
    {
      name: 'libraries-stay-below',
      severity: 'error',
      comment:
        'protocol/, tls/, auth/ and config/ are the bottom layer: codecs, crypto, TLS contexts and configuration. ' +
        'They do not import the layers that use them (driver, pool, proxy, the CLI) nor the services beside them.',
      from: { path: LIB },
      to: {
        path: [
          src('(driver|pool|proxy|observability|journal|diagrams|dev)/'),
          '^src/(cli|demo)\\.ts$',
        ],
      },
    },
    {
      name: 'services-do-not-call-up',
      severity: 'error',
      comment:
        'observability/ and journal/ are services that driver/, pool/ and proxy/ use; importing those layers back ' +
        'would tie metrics or replay to one connection path.',
      from: { path: src('(observability|journal)/') },
      to: { path: [src('(driver|pool|proxy|dev)/'), '^src/(cli|demo)\\.ts$'] },
    },
    {
      name: 'journal-not-to-observability',
      severity: 'error',
      comment: 'The viewer (observability/) reads journals; a journal never depends on how it is displayed or counted.',
      from: { path: src('journal/') },
      to: { path: src('observability/') },
    },
    {
      name: 'diagrams-render-machines-only',
      severity: 'error',
      comment: 'diagrams/ renders machines/ for the CLI, replay and the viewer; it depends on nothing that runs connections.',
      from: { path: src('diagrams/') },
      to: { path: [src('(driver|pool|proxy|observability|journal|dev)/'), '^src/(cli|demo)\\.ts$'] },
    },
    {
      name: 'dev-only-for-demo-and-tests',
      severity: 'error',
      comment:
        'dev/ starts throwaway PostgreSQL clusters (the embedded PostgreSQL is an optional dependency) and makes test ' +
        'certificates. Only demo.ts and tests use it; a proxy that imported it would need PostgreSQL binaries to start.',
      from: { path: '^(src|machines)/', pathNot: ['^src/dev/', '^src/demo\\.ts$'] },
      to: { path: src('dev/') },
    },
    {
      name: 'dev-is-infrastructure',
      severity: 'error',
      comment: 'dev/ may use the bottom libraries (protocol, tls, auth, config) but not the proxy it is used to test.',
      from: { path: src('dev/') },
      to: {
        path: [src('(driver|pool|proxy|observability|journal|diagrams)/'), '^src/(cli|demo)\\.ts$', '^machines/'],
      },
    },
    {
      name: 'shipped-code-not-to-dev-dependencies',
      severity: 'error',
      comment:
        'src/ and machines/ are what `npm i gatehouse` runs: a devDependency is not installed there, so importing one ' +
        'fails at run time on a user machine (tests may use them).',
      from: { path: '^(src|machines)/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-unlisted-packages',
      severity: 'error',
      comment: 'Every package the shipped code imports must be in package.json, or `npm i gatehouse` will not bring it.',
      from: { path: '^(src|machines)/' },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing: a typo, a moved file or a missing package.',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-tests-from-sources',
      severity: 'error',
      comment: 'Shipped code never imports test code or fixtures.',
      from: { path: '^(src|machines)/' },
      to: { path: '^test/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^dist/', '^node_modules/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
