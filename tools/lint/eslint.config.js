// ESLint for tsconverge: typescript-eslint's recommended rules, and two type-aware rules
// for promises nobody awaits, run by `npm run lint` (a step of `npm test`). It lives here,
// beside its own TypeScript 6 (see package.json and docs/architecture.md).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'tools/**', 'src/generated/**', 'bench/results/**', 'bench/workload/**', '**/*.js', '**/*.cjs', '**/*.mjs'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      // `const { a: _a, ...rest } = x` drops a key: the underscore says "unused on purpose".
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/**/*.test.ts', 'src/**/*.testkit.ts', 'src/providers/sysctl/sysctl.netns.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: process.cwd() } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
    },
  },
  {
    // Tests read JSON that the CLI prints and `docker inspect` returns; the assertion
    // itself checks its shape, so `any` is the honest type there.
    files: ['test/**/*.ts', 'src/**/*.test.ts', 'src/**/*.testkit.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
