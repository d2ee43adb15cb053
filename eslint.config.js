import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import n from 'eslint-plugin-n';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX, n },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'n/no-process-exit': 'error',
    },
  },
  {
    // The rule of dependencies (ARCHITECTURE.md): cli -> commands -> {http, config, output} -> core.
    files: ['src/**/*.ts'],
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: './src/core',
              from: './src',
              except: ['./core'],
              message: 'core imports only itself, openid-client and jose',
            },
            { target: './src/http', from: ['./src/cli', './src/commands'] },
            { target: './src/config', from: ['./src/cli', './src/commands'] },
            { target: './src/output', from: ['./src/cli', './src/commands'] },
            { target: './src/idp', from: ['./src/cli', './src/commands'] },
            { target: './src/services', from: ['./src/cli', './src/commands'] },
          ],
        },
      ],
    },
  },
  {
    // The core is silent: no console, no env, no process.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-console': 'error',
      'no-restricted-globals': ['error', 'process'],
      'no-restricted-imports': [
        'error',
        { patterns: ['node:process', 'chalk', '@inquirer/*', 'undici', 'commander', 'open'] },
      ],
    },
  },
  {
    // Only cli/ and config/ read the environment.
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**', 'src/config/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'read settings through config/' },
      ],
    },
  },
  {
    files: ['bin/**/*.js', 'bench/**/*.mjs', 'scripts/**/*.mjs', 'test/**/*.mjs', '*.js'],
    languageOptions: { globals: { ...globals.node } },
  },
);
