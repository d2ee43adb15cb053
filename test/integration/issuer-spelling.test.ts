/**
 * Issue 16 item 9: an issuer that is an origin is discovered under either
 * spelling (with or without the trailing slash) without a mismatch, so the
 * note that the IdP's spelling is used must come from discovery itself, for
 * every command that discovers (`serve` passes discovery notes on at start).
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { discoverIssuer } from '../../src/core/issuer.js';
import { startLocalIssuer, type LocalIssuer } from '../helpers/jwt-fixtures.js';

let issuer: LocalIssuer;
beforeAll(async () => {
  issuer = await startLocalIssuer([]);
});
afterAll(async () => {
  await issuer?.close();
});

test('the slash form of an origin issuer gets a note naming the spelling used', async () => {
  // The local issuer names itself without a trailing slash.
  const found = await discoverIssuer(`${issuer.issuer}/`, { fetch: (u, i) => fetch(u, i) });
  expect(found.issuer).toBe(issuer.issuer);
  expect(found.notes).toContain(
    `the IdP names its issuer "${issuer.issuer}" (you gave "${issuer.issuer}/"): using the IdP's spelling`,
  );
});

test('the exact spelling: no note', async () => {
  const found = await discoverIssuer(issuer.issuer, { fetch: (u, i) => fetch(u, i) });
  expect(found.notes.filter((n) => n.includes('names its issuer'))).toEqual([]);
});
