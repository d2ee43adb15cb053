/**
 * Loads `oidc-provider` lazily (only `oidc-gw idp`, `demo` and tests need it;
 * `--help` must stay fast).
 *
 * On import, oidc-provider prints "Unsupported runtime" through console.warn
 * on Node.js releases older than 22, which this package supports (engines
 * >= 20.19) and tests on. That one line is filtered out while the module
 * evaluates; every other console.warn passes through untouched.
 */
import type * as OidcProvider from 'oidc-provider';

export type OidcProviderModule = typeof OidcProvider;

let loading: Promise<OidcProviderModule> | undefined;

const RUNTIME_WARNING = /^oidc-provider WARNING: Unsupported runtime/;

export function loadOidcProvider(): Promise<OidcProviderModule> {
  loading ??= (async () => {
    const original = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && RUNTIME_WARNING.test(stripAnsi(args[0]))) return;
      original.apply(console, args);
    };
    try {
      return await import('oidc-provider');
    } finally {
      console.warn = original;
    }
  })();
  return loading;
}

function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '');
}
