// Mints access tokens in a worker thread (signing is the slow part of
// preparing the distinct-token and many-identity runs). Each token has its
// own `sub` (user-N) and `jti`.
// workerData: { pem, alg: 'RS256' | 'ES256', kid, iss, aud, from, count, prefix }.
import { createPrivateKey, sign } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';

const { pem, alg, kid, iss, aud, from, count, prefix } = workerData;
const key = createPrivateKey(pem);
const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
const header = b64({ alg, typ: 'at+jwt', kid });
const now = Math.floor(Date.now() / 1000);
// ES256 signatures are r || s (RFC 7518 §3.4), not DER.
const signKey = alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key;
const tokens = [];
for (let i = from; i < from + count; i++) {
  const input = `${header}.${b64({ iss, aud, sub: `${prefix}${i}`, client_id: 'bench', scope: 'read write', iat: now, exp: now + 7200, jti: `${prefix}t${i}` })}`;
  tokens.push(`${input}.${sign('sha256', Buffer.from(input), signKey).toString('base64url')}`);
}
parentPort.postMessage(tokens);
