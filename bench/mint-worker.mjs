// Mints RS256 access tokens in a worker thread (signing is the slow part of
// preparing the distinct-token runs). workerData: { pem, kid, iss, aud, from, count }.
import { createPrivateKey, sign } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';

const { pem, kid, iss, aud, from, count } = workerData;
const key = createPrivateKey(pem);
const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
const header = b64({ alg: 'RS256', typ: 'at+jwt', kid });
const now = Math.floor(Date.now() / 1000);
const tokens = [];
for (let i = from; i < from + count; i++) {
  const input = `${header}.${b64({ iss, aud, sub: `user-${i}`, client_id: 'bench', scope: 'read write', iat: now, exp: now + 7200, jti: `t${i}` })}`;
  tokens.push(`${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`);
}
parentPort.postMessage(tokens);
