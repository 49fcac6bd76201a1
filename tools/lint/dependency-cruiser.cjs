/**
 * The floors of src/ (docs/architecture.md), checked by `npm run lint` (a step of
 * `npm test`): a folder imports only the folders listed for it, never one above it,
 * never a sibling, and no module imports itself back through others (no circle).
 * Type-only imports count: a type is a dependency too. Tests (*.test.ts, *.testkit.ts)
 * stand above every floor and are not checked here.
 */
const { FLOORS } = require('./floors.cjs');

const floorRules = Object.entries(FLOORS).map(([floor, below]) => ({
  name: `floor-${floor}`,
  comment: `src/${floor} imports only ${below.length ? below.map((f) => `src/${f}`).join(', ') : 'nothing else of the project'} (docs/architecture.md)`,
  severity: 'error',
  from: { path: `^src/${floor}/` },
  to: { path: '^src/', pathNot: `^src/(${[floor, ...below].join('|')})/` },
}));

module.exports = {
  forbidden: [
    ...floorRules,
    {
      name: 'no-floor',
      comment: 'every module of src/ lives in one of the floors (docs/architecture.md); add a row for a new folder to tools/lint/floors.cjs',
      severity: 'error',
      from: { path: '^src/', pathNot: `^src/(${Object.keys(FLOORS).join('|')})/` },
      to: {},
    },
    {
      name: 'no-circular',
      comment: 'a module must not import itself back through others',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'an import that resolves to nothing',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    includeOnly: '^src/',
    exclude: { path: '\\.(test|testkit)\\.ts$|^src/providers/sysctl/sysctl\\.netns\\.ts$' },
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
