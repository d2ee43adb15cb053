/**
 * `oidc-gw` as a library (docs/testing.md): the pieces of the CLI that other
 * people's test suites and tools start in process. ES module, typed; no
 * process-wide side effects (no signal handlers, no exit, no writes to
 * stdout); everything started here stops with its `stop()`.
 *
 * The CLI does not load this module: bin/oidc-gw.js runs dist/bundle/, and
 * this entry imports nothing at load time beyond its own small modules
 * (oidc-provider and jose are imported when first used).
 */
export * from './testing.js';

// startGateway (src/api/gateway.ts), the gateway of `oidc-gw serve` in
// process, comes through testing.js: a test suite imports it from either.
