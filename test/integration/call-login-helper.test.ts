import { afterAll, beforeAll, expect, test } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';
import { callEnv } from '../helpers/call-cli.js';
import { headlessLogin } from '../helpers/call-login.js';

let idp: TestIdp;
beforeAll(async () => {
  idp = await startTestIdp();
});
afterAll(async () => {
  await idp?.close();
});

test('the headless test login caches a refreshable JWT access token and an ID token', async () => {
  const e = callEnv();
  try {
    await headlessLogin(idp, e.env);
    const file = readdirSync(e.cacheDir).find((f) => f.startsWith('user-'));
    expect(file).toBeDefined();
    const entry = JSON.parse(readFileSync(join(e.cacheDir, file as string), 'utf8'));
    expect(entry.tokens.refresh_token).toEqual(expect.any(String));
    expect(entry.tokens.id_token).toEqual(expect.any(String));
    expect(entry.tokens.access_token.split('.')).toHaveLength(3);
  } finally {
    e.cleanup();
  }
});
