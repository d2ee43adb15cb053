import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import n from 'eslint-plugin-n';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { n },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'n/no-process-exit': 'error',
    },
  },
  {
    // The rule of dependencies (docs/architecture.md):
    // cli -> commands -> services -> {http, config, output, idp} -> core.
    files: ['src/commands/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/cli/*'], message: 'commands never import cli/' }] },
      ],
    },
  },
  {
    files: ['src/services/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/cli/*', '**/commands/*'],
              message: 'services sit below cli/ and commands/',
            },
          ],
        },
      ],
    },
  },
  {
    // The library entry (`oidc-gw`, `oidc-gw/testing`) sits at the services
    // level and never loads the CLI: no cli/, no commands/. As a library it
    // has no process-wide effects: no console, no process (signals, exit, stdio).
    files: ['src/api/**/*.ts'],
    rules: {
      'no-console': 'error',
      'no-restricted-globals': ['error', 'process'],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/cli/*', '**/commands/*', 'node:process', 'commander', 'chalk'],
              message: 'the library never imports cli/, commands/ or the terminal',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/http/**/*.ts', 'src/config/**/*.ts', 'src/output/**/*.ts', 'src/idp/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/cli/*', '**/commands/*', '**/services/*'],
              message: 'http, config, output and idp sit below services/',
            },
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
        {
          patterns: [
            {
              group: [
                'node:process',
                'chalk',
                '@inquirer/*',
                'undici',
                'commander',
                'open',
                'oidc-provider',
              ],
              message: 'the core is silent and imports only openid-client, jose and itself',
            },
            {
              group: [
                '**/cli/*',
                '**/commands/*',
                '**/services/*',
                '**/config/*',
                '**/http/*',
                '**/output/*',
                '**/idp/*',
                '**/context.js',
              ],
              message: 'core imports only itself, openid-client and jose',
            },
          ],
        },
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
  {
    // The command is CommonJS (bin/package.json): it starts faster.
    files: ['bin/**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
