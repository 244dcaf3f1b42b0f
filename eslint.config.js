// Lint rules: typescript-eslint's recommended set, type-aware, plus the project's own few rules.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.xenimage/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test collects these itself.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // src/ never imports the workflow sandbox API (docs/architecture.md, "Layers").
    files: ['src/**/*.ts', 'activities/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: ['@temporalio/workflow'] }] },
  },
  {
    // ... and only the lab itself, the CLI and the tests may import the lab.
    files: ['src/**/*.ts', 'activities/**/*.ts'],
    ignores: ['src/lab/**', 'src/cli/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: ['@temporalio/workflow'], patterns: ['**/lab/**'] }],
    },
  },
  {
    // Workflows are deterministic: no I/O modules.
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'http', 'https', 'net', 'child_process'],
              message: 'workflows are deterministic: no I/O',
            },
            { group: ['**/activities/*'], allowTypeImports: true, message: 'import activities as types only' },
            {
              group: ['**/src/lab/*', '**/src/cli/*', '**/src/temporal/*'],
              message: 'workflows use only pure modules of src/',
            },
          ],
        },
      ],
    },
  },
);
