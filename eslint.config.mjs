// ESLint for correctness, not taste (Prettier owns style). Boundaries: libs are imported only through
// their public entry, never from apps; workflow files stay deterministic (no Node built-ins, Nest,
// Prisma or I/O libs); no import cycles.
import js from '@eslint/js';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

/** Imports workflow-safe code may not use (no Node built-ins, no I/O clients), plus `extra` paths. */
function workflowSafeImports(extra) {
  return {
    paths: [
      ...nodeBuiltins.map((name) => ({ name, message: 'No Node built-ins in workflow-safe code.' })),
      ...extra,
    ],
    patterns: [
      {
        group: ['@nestjs/*', '@prisma/*', 'ioredis', 'bullmq', 'pino', 'pg'],
        message: 'Workflow-safe code imports only @temporalio/workflow, zod and @axle/protocol.',
      },
      {
        group: ['@axle/*', '!@axle/protocol', '!@axle/protocol/workflow'],
        message: 'Workflow-safe code imports only @axle/protocol.',
      },
      {
        group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity'],
        message: 'Workflows use @temporalio/workflow only.',
      },
    ],
  };
}

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '.axle/**',
      '.tools/**',
      'libs/data/src/generated/**',
      'coverage/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // The one second entry: the protocol's zod-free subset for workflow code.
              group: ['@axle/*/**', '!@axle/protocol/workflow'],
              message: 'Import a lib only through its public entry (@axle/<lib>).',
            },
            {
              group: ['**/libs/*/src/**', '../../libs/**', '**/apps/**'],
              message: 'Use the @axle/<lib> alias; libs never import apps.',
            },
            {
              group: ['@temporalio/*/lib/**', '@temporalio/*/src/**'],
              message: 'No deep imports into Temporal packages.',
            },
          ],
        },
      ],
    },
  },
  {
    // Nest DI needs runtime class references for constructor parameters, so type-only imports are wrong there.
    files: ['apps/**/*.ts', 'libs/**/*.ts'],
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  {
    // Only the data lib may touch Prisma.
    files: ['apps/**/*.ts', 'libs/!(data)/**/*.ts', 'test/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: '@prisma/client', message: 'Prisma is used only inside libs/data.' },
            { name: '@prisma/adapter-pg', message: 'Prisma is used only inside libs/data.' },
          ],
          patterns: [
            {
              // The one second entry: the protocol's zod-free subset for workflow code.
              group: ['@axle/*/**', '!@axle/protocol/workflow'],
              message: 'Import a lib only through its public entry (@axle/<lib>).',
            },
            {
              group: ['**/libs/*/src/**', '../../libs/**', '**/apps/**'],
              message: 'Use the @axle/<lib> alias; libs never import apps.',
            },
            { group: ['**/generated/prisma/**'], message: 'Prisma is used only inside libs/data.' },
          ],
        },
      ],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox and is replayed.
    files: ['libs/protocol/src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: { 'no-restricted-imports': ['error', workflowSafeImports([])] },
  },
  {
    files: ['libs/orchestration/src/workflows/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        // A workflow's imports are evaluated again for each workflow (libs/protocol/src/workflow.ts).
        workflowSafeImports(
          ['@axle/protocol', 'zod'].map((name) => ({
            name,
            message:
              'Workflows import @axle/protocol/workflow: the full entry builds zod schemas per workflow.',
          })),
        ),
      ],
    },
  },
  {
    files: ['libs/orchestration/src/workflows/**/*.ts', 'libs/protocol/src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'Use sleep() from @temporalio/workflow.' },
        { name: 'setInterval', message: 'Use sleep() in a loop.' },
        { name: 'process', message: 'No process in workflow-safe code.' },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', name: ['test', 'it', 'describe', 'suite'], package: 'node:test' },
          ],
        },
      ],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // Dependency-free Node scripts (they run before npm install): linted without type information.
    files: ['**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        fetch: 'readonly',
        AbortSignal: 'readonly',
        Buffer: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        WebAssembly: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
      },
    },
  },
);
