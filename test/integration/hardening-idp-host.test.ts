/**
 * Issue 16, item 12: the dev IdP answers only for its own names. A page whose
 * domain was rebound to 127.0.0.1 (DNS rebinding) sends its own domain as
 * Host: it gets 421, never a discovery document naming that domain, never the
 * sign-in form with the known alice:alice. Loopback names, IP literals and
 * the --public-url host keep working. The keys are also served at Auth0's
 * `/.well-known/jwks.json`.
 *
 * Requests go through node:http because fetch does not let a caller set Host.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startDevIdp, type DevIdp } from '../../src/idp/index.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';

let idp: TestIdp;

beforeAll(async () => {
  idp = await startTestIdp();
});
afterAll(async () => {
  await idp.close();
});

interface Answer {
  status: number;
  body: string;
}

function get(
  url: string,
  hostHeader: string,
  init: { method?: string; body?: string; type?: string } = {},
): Promise<Answer> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: init.method ?? 'GET',
        headers: {
          host: hostHeader,
          ...(init.body === undefined
            ? {}
            : {
                'content-type': init.type ?? 'application/x-www-form-urlencoded',
                'content-length': Buffer.byteLength(init.body),
              }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > 1024 * 1024) req.destroy(new Error('answer too large'));
          else chunks.push(c);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('the dev IdP refuses a foreign Host', () => {
  test('discovery with Host: attacker.example is 421 and names no attacker URL', async () => {
    const port = new URL(idp.issuer).port;
    const answer = await get(
      `${idp.issuer}/.well-known/openid-configuration`,
      `attacker.example:${port}`,
    );
    expect(answer.status).toBe(421);
    expect(answer.body).not.toMatch(/"(authorization|token)_endpoint"/);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'invalid_request' });
  });

  test('the authorization endpoint and the sign-in post are refused too', async () => {
    const port = new URL(idp.issuer).port;
    const auth = await get(
      `${idp.issuer}/auth?client_id=${idp.clients.native.clientId}&response_type=code&scope=openid`,
      `rebound.attacker.example:${port}`,
    );
    expect(auth.status).toBe(421);
    const post = await get(`${idp.issuer}/interaction/abc/login`, `attacker.example:${port}`, {
      method: 'POST',
      body: 'username=alice&password=alice',
    });
    expect(post.status).toBe(421);
  });

  test('a Host with userinfo or a path is refused', async () => {
    const port = new URL(idp.issuer).port;
    for (const host of [`attacker.example@127.0.0.1:${port}`, `127.0.0.1:${port}/x`]) {
      const answer = await get(`${idp.issuer}/.well-known/openid-configuration`, host);
      expect(answer.status, host).toBe(421);
    }
  });

  test('loopback names and IP literals are answered, with the endpoints at that name', async () => {
    const port = new URL(idp.issuer).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`]) {
      const answer = await get(`${idp.issuer}/.well-known/openid-configuration`, host);
      expect(answer.status, host).toBe(200);
      const doc = JSON.parse(answer.body) as { issuer: string; token_endpoint: string };
      expect(doc.issuer).toBe(idp.issuer);
      expect(new URL(doc.token_endpoint).hostname).toBe(host.split(':')[0]?.toLowerCase());
    }
  });
});

describe('the --public-url host is answered', () => {
  let named: DevIdp;
  beforeAll(async () => {
    named = await startDevIdp({
      host: '127.0.0.1',
      port: 0,
      issuer: 'http://idp.compose.test:9000',
      audience: 'https://api.example.test/',
      clients: [],
      users: [],
    });
  });
  afterAll(async () => {
    await named.close();
  });

  test('Host idp.compose.test gets discovery; another name gets 421', async () => {
    const ok = await get(
      `${named.listenUrl}/.well-known/openid-configuration`,
      'idp.compose.test:9000',
    );
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ issuer: 'http://idp.compose.test:9000' });
    const refused = await get(`${named.listenUrl}/.well-known/openid-configuration`, 'other.test');
    expect(refused.status).toBe(421);
  });
});

describe('the keys at Auth0 path', () => {
  test('/.well-known/jwks.json serves the same JWK Set as /jwks', async () => {
    const host = new URL(idp.issuer).host;
    const alias = await get(`${idp.issuer}/.well-known/jwks.json`, host);
    const jwks = await get(`${idp.issuer}/jwks`, host);
    expect(alias.status).toBe(200);
    const keys = (JSON.parse(alias.body) as { keys: Array<{ kid: string }> }).keys;
    expect(keys.length).toBeGreaterThan(0);
    expect(JSON.parse(alias.body)).toEqual(JSON.parse(jwks.body));
  });
});
