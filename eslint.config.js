import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import n from 'eslint-plugin-n';

/**
 * The rule of dependencies (docs/architecture.md):
 * cli -> commands -> services -> {gateway, http, config, output, idp} -> core,
 * and the library entry (api/) at the services level. One table serves both
 * forms of import: `no-restricted-imports` checks `import ... from` and
 * `export ... from` but sees neither `await import('...')` nor a type written
 * `import('...').T`, so the same patterns also become `no-restricted-syntax`
 * selectors on ImportExpression and TSImportType nodes.
 */
const LAYERS = [
  {
    files: ['src/commands/**/*.ts'],
    patterns: [{ group: ['**/cli/*'], message: 'commands never import cli/' }],
  },
  {
    files: ['src/services/**/*.ts'],
    patterns: [
      { group: ['**/cli/*', '**/commands/*'], message: 'services sit below cli/ and commands/' },
    ],
  },
  {
    // The library entry (`oidc-gw`, `oidc-gw/testing`) sits at the services
    // level and never loads the CLI: no cli/, no commands/, no terminal.
    files: ['src/api/**/*.ts'],
    patterns: [
      {
        group: ['**/cli/*', '**/commands/*', 'node:process', 'commander', 'chalk'],
        message: 'the library never imports cli/, commands/ or the terminal',
      },
    ],
  },
  {
    // The gateway's plan, loaders, checks and request path sit below services/.
    files: ['src/gateway/**/*.ts'],
    patterns: [
      {
        group: ['**/cli/*', '**/commands/*', '**/services/*'],
        message: 'gateway sits below services/: no cli/, commands/ or services/',
      },
    ],
  },
  {
    files: ['src/http/**/*.ts', 'src/config/**/*.ts', 'src/output/**/*.ts', 'src/idp/**/*.ts'],
    patterns: [
      {
        group: ['**/cli/*', '**/commands/*', '**/services/*'],
        message: 'http, config, output and idp sit below services/',
      },
    ],
  },
  {
    files: ['src/core/**/*.ts'],
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
];

/**
 * A no-restricted-imports glob as a regular expression on the module
 * specifier. Four shapes are used above: a folder at any depth and anything
 * below it (`**` + `/cli/*`), a file at any depth (`**` + `/context.js`), a
 * package scope (`@inquirer/*`) and a package (`chalk`). Slashes are written
 * `\x2F`: esquery's regex literal cannot contain `/`.
 */
function globToRegex(glob) {
  const esc = (t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  let source;
  if (glob.startsWith('**/') && glob.endsWith('/*')) source = `(^|/)${esc(glob.slice(3, -2))}/`;
  else if (glob.startsWith('**/')) source = `(^|/)${esc(glob.slice(3))}$`;
  else if (glob.endsWith('/*')) source = `^${esc(glob.slice(0, -2))}/`;
  else source = `^${esc(glob)}$`;
  return source.replaceAll('/', '\\x2F');
}

/** `import('...')` as an expression and as a type, for one no-restricted-imports pattern. */
function dynamicImportSelectors({ group, message }) {
  const regex = `/${group.map((g) => `(${globToRegex(g)})`).join('|')}/`;
  return [
    { selector: `ImportExpression[source.value=${regex}]`, message },
    { selector: `TSImportType[source.value=${regex}]`, message },
  ];
}

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
  ...LAYERS.map(({ files, patterns }) => ({
    files,
    rules: {
      'no-restricted-imports': ['error', { patterns }],
      'no-restricted-syntax': ['error', ...patterns.flatMap(dynamicImportSelectors)],
    },
  })),
  {
    // The library entry (`oidc-gw`, `oidc-gw/testing`) has no process-wide
    // effects: no console, no process (signals, exit, stdio).
    files: ['src/api/**/*.ts'],
    rules: {
      'no-console': 'error',
      'no-restricted-globals': ['error', 'process'],
    },
  },
  {
    // The core is silent: no console, no env, no process.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-console': 'error',
      'no-restricted-globals': ['error', 'process'],
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
