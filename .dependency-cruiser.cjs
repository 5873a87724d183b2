/**
 * The layers of src/, checked by dependency-cruiser: `npm run check:layers` (CI runs it after the
 * typecheck). docs/architecture.md draws them and says what each folder holds.
 *
 *   top       src/worker.ts, src/index.ts, src/entries/*      may import anything
 *   floor 6   gateway/                                        knows every feature
 *   floor 5   config/                                         the assembled schema and its checks
 *   floor 4   auth/ rate-limit/ cache/ traffic/ aggregate/ observability/ openapi/   (siblings)
 *   floor 3   upstream/
 *   floor 2   routing/ http-cache/                            (siblings)
 *   floor 1   template/
 *   floor 0   core/                                           imports nothing else in src/
 *
 * A file may import its own folder and any folder on a lower floor: never a higher floor, never
 * another folder on its own floor. Type-only imports count (`tsPreCompilationDeps`): a type import
 * ties two folders together as much as a value import does, and it can close a cycle.
 *
 * Each bad import is reported by one rule only: imports of gateway/ and testing/ and features'
 * imports of config/ have rules of their own, so the "floor" rules leave them out.
 *
 * testing/ is the test kit (`edgeway/testing`), beside the floors: it may import anything, and
 * nothing but itself imports it. Its Node side (testing/node/, testing/global-setup.ts) runs in
 * vitest's Node process, so it stays apart from the rest, which runs in workerd.
 */

/** Folders by floor, bottom to top. */
const FEATURES = ['auth', 'rate-limit', 'cache', 'traffic', 'aggregate', 'observability', 'openapi']
const FLOORS = [['core'], ['template'], ['routing', 'http-cache'], ['upstream'], FEATURES, ['config'], ['gateway']]

/** `^src/(a|b)/`: a path in one of these folders. */
const inFolders = (folders) => `^src/(${folders.join('|')})/`
/** The top-level entries, which may import anything. */
const ENTRIES = '^src/(worker\\.ts|index\\.ts|lib\\.ts|entries/)'
/** The test kit, and its Node side. */
const TESTING = '^src/testing/'
const TESTING_NODE = '^src/testing/(node/|global-setup\\.ts$)'
/** Every folder on floors 0 to `floor`. */
const upTo = (floor) => FLOORS.slice(0, floor + 1).flat()

/** One rule per floor from 1 to 5: no import of a higher floor, nor of another folder on the same floor. */
function floorRule(floor, name, comment) {
  // Features importing features, or config/, have rules of their own; gateway/ has its own rule.
  const allowed = [...upTo(floor - 1), 'gateway', 'testing', ...(floor === 4 ? [...FEATURES, 'config'] : [])]
  return {
    name,
    comment,
    severity: 'error',
    from: { path: inFolders(FLOORS[floor]) },
    // `$1` is the folder the importing file is in (the group in `from.path`): its own folder is fine.
    to: { path: '^src/', pathNot: [inFolders(allowed), '^src/$1/'] },
  }
}

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment:
        'This import closes a cycle: following imports from here leads back to this file (type-only imports count). ' +
        'A cycle makes module load order matter and means two files are really one concept. Move what both need ' +
        'down a floor (often into core/), or pass it in as a parameter.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'core-imports-only-core',
      comment:
        'core/ is floor 0: context, errors, http helpers, runtime, env and policy types. It may import only other ' +
        'files in core/ (and packages). Everything else builds on it, so anything it imported would be imported ' +
        'by the whole gateway. Move the shared piece into core/, or move this code up to the folder that needs it.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: ['^src/core/', '^src/gateway/', TESTING] },
    },
    floorRule(
      1,
      'template-imports-down',
      'template/ (floor 1: the template engine and path expressions) may import only core/ and template/. ' +
        'Features feed it values through a scope; it must not know who calls it.',
    ),
    floorRule(
      2,
      'routing-and-http-cache-import-down',
      'routing/ and http-cache/ (floor 2) may import core/, template/ and their own folder: not upstream/, a ' +
        'feature or config/, and not each other (two folders on one floor are independent). Shared pieces go to core/.',
    ),
    floorRule(
      3,
      'upstream-imports-down',
      'upstream/ (floor 3: pools, balancer, health, breaker, retry, proxy) may import core/, template/, routing/ ' +
        'and http-cache/ only. Features such as aggregate/ build on it, never the other way round.',
    ),
    {
      name: 'features-are-independent',
      comment:
        'A feature (auth, rate-limit, cache, traffic, aggregate, observability, openapi) imports another feature. ' +
        'Features are siblings on floor 4 and share only through core/: publish the value on the request context ' +
        '(core/context.ts) or put the shared type or helper in core/ (or in routing/, http-cache/, upstream/ if it ' +
        'is machinery). gateway/ is where features are put together.',
      severity: 'error',
      from: { path: inFolders(FEATURES) },
      to: { path: inFolders(FEATURES), pathNot: '^src/$1/' },
    },
    floorRule(
      4,
      'features-import-down',
      'A feature (floor 4) may import core/, template/, routing/, http-cache/, upstream/ and its own folder, ' +
        'never a top-level entry (src/worker.ts, src/index.ts, src/entries/).',
    ),
    {
      name: 'features-do-not-import-config',
      comment:
        'A feature imports config/ (type imports included). config/ assembles every feature\'s schema, so a feature ' +
        'that reads it depends on all the others. Take what the feature needs as a parameter typed by its own ' +
        'schema, or by the narrow contract in core/policy.ts (PolicyContext).',
      severity: 'error',
      from: { path: inFolders(FEATURES) },
      to: { path: '^src/config/' },
    },
    floorRule(
      5,
      'config-imports-down',
      'config/ (floor 5: the assembled schema, parse, environments) may import every folder below it, never ' +
        'a top-level entry.',
    ),
    {
      name: 'only-entries-import-gateway',
      comment:
        'gateway/ (floor 6) is the only place that knows every feature: only the top-level entries (src/worker.ts, ' +
        'src/index.ts, src/entries/) may import it. A feature that needs something from gateway/ should get it ' +
        'from core/ (a contract such as AdminExtension or Policy) or as a parameter gateway/ passes in.',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/gateway/', ENTRIES, TESTING] },
      to: { path: '^src/gateway/' },
    },
    {
      name: 'gateway-imports-down',
      comment: 'gateway/ may import every folder, but not a top-level entry (src/worker.ts, src/index.ts, src/entries/): those import it.',
      severity: 'error',
      from: { path: '^src/gateway/' },
      to: { path: ENTRIES },
    },
    {
      name: 'every-folder-has-a-floor',
      comment:
        'This file sits in a folder of src/ that has no floor yet, so no other rule checks its imports. ' +
        'Put it in an existing folder, or give the new folder a floor in .dependency-cruiser.cjs and docs/architecture.md.',
      severity: 'error',
      from: { path: '^src/', pathNot: [inFolders(upTo(6)), ENTRIES, TESTING] },
      to: { path: '^src/' },
    },
    {
      name: 'only-tests-import-testing',
      comment:
        'testing/ is the test kit (`edgeway/testing`): it imports `cloudflare:test`, `vitest` and Node servers, which ' +
        'a deployed Worker must never bundle. Nothing in src/ outside testing/ may import it; tests import it.',
      severity: 'error',
      from: { path: '^src/', pathNot: TESTING },
      to: { path: TESTING },
    },
    {
      name: 'testing-node-side-apart',
      comment:
        'The test kit\'s Node side (testing/node/, testing/global-setup.ts) runs in vitest\'s Node process; the rest of ' +
        'testing/ runs in workerd. A workerd file importing the Node side would pull `node:http` into the pool, and the ' +
        'Node side importing the gateway would load it in Node. Share only types (testing/provided.ts).',
      severity: 'error',
      from: { path: TESTING, pathNot: TESTING_NODE },
      to: { path: TESTING_NODE },
    },
    {
      name: 'testing-node-side-imports-node-side',
      comment: 'The test kit\'s Node side may import only itself and testing/provided.ts (the types both sides share).',
      severity: 'error',
      from: { path: TESTING_NODE },
      to: { path: '^src/', pathNot: [TESTING_NODE, '^src/testing/provided\\.ts$'] },
    },
  ],
  options: {
    includeOnly: '^src/',
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports (`import type`, `import { type X }`) are part of the graph.
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
}
