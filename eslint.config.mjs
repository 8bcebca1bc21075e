// ESLint (flat config) with typescript-eslint's recommended rules, configured once for the whole
// repository. Formatting is Prettier's job (.prettierrc.json), not ESLint's: no stylistic rules here.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', '**/dist/', 'coverage/', 'drill-report/', 'test-output/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // A `let` that a closure reads before its one assignment (a signal handler set up before the
      // region starts) cannot be a const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // `_`-prefixed parameters and the rest siblings of a destructuring are deliberate.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    // Jest suites and their helpers: jest's globals. They read untyped JSON (Pulumi mock inputs,
    // rendered manifests, /status bodies) as `any` and assert on it: a wrong path fails the assertion.
    files: ['test/**/*.ts'],
    languageOptions: { globals: { ...globals.node, ...globals.jest } },
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // CommonJS: the jest config, the project lists and small node scripts.
    files: ['**/*.js', '**/*.cjs'],
    ignores: ['app/local/status/page/**'],
    languageOptions: { sourceType: 'commonjs', globals: { ...globals.node } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // ES module node scripts (the SDK build, the Kubernetes schema check).
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module', globals: { ...globals.node } },
  },
  {
    // The status page's script runs in the browser.
    files: ['app/local/status/page/**/*.js'],
    languageOptions: { sourceType: 'script', globals: { ...globals.browser } },
  },
);
