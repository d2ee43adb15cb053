/**
 * Forwarding headers a client can plant (issue 16 item 5): `Forwarded`,
 * `X-Real-IP` and every `X-Forwarded-*` but `-For` never reach the upstream
 * as the client wrote them; the gateway's own X-Forwarded-* are still set.
 */
import { describe, expect, test } from 'vitest';
import { isPlantedForwarding, upstreamHeaders } from '../../src/http/gateway/headers.js';

const options = {
  reserved: new Set(['x-forwarded-proto', 'x-forwarded-host']),
  stripAuthorization: false,
  clientAddress: '127.0.0.1',
  extra: [] as string[],
};

/** Lower-cased names of a flat [name, value, ...] list, with their values. */
function pairs(flat: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2)
    out.push([(flat[i] as string).toLowerCase(), flat[i + 1] as string]);
  return out;
}

describe('forwarding headers a client can plant', () => {
  test('Forwarded, X-Real-IP, X-Forwarded-Port/-Prefix and friends are removed, in every spelling', () => {
    const out = upstreamHeaders(
      [
        'Host',
        'api.test',
        'Forwarded',
        'for=6.6.6.6;host=evil.example;proto=https',
        'forwarded',
        'host=evil2.example',
        'X-Real-IP',
        '6.6.6.6',
        'x_real_ip',
        '6.6.6.7',
        'X-Forwarded-Port',
        '443',
        'X-Forwarded-Prefix',
        '/admin',
        'X_Forwarded_Prefix',
        '/admin2',
        'X-Forwarded-Ssl',
        'on',
        'X-Forwarded-Scheme',
        'https',
        'X-Forwarded-Server',
        'evil.example',
        'X-Forwarded-For',
        '10.0.0.1',
        'X-Ok',
        'kept',
      ],
      options,
    );
    expect(pairs(out.headers)).toEqual([
      ['x-ok', 'kept'],
      ['x-forwarded-for', '10.0.0.1, 127.0.0.1'],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-host', 'api.test'],
    ]);
  });

  test('a forwarded claim the operator names X-Real-IP or Forwarded is still sent', () => {
    const out = upstreamHeaders(['X-Real-IP', '6.6.6.6', 'Forwarded', 'for=6.6.6.6'], {
      ...options,
      reserved: new Set([...options.reserved, 'x-real-ip', 'forwarded']),
      extra: ['X-Real-IP', 'alice', 'Forwarded', 'by=claim'],
    });
    expect(pairs(out.headers)).toEqual([
      ['x-forwarded-for', '127.0.0.1'],
      ['x-forwarded-proto', 'http'],
      ['x-real-ip', 'alice'],
      ['forwarded', 'by=claim'],
    ]);
  });

  test('isPlantedForwarding: the family, not look-alikes', () => {
    for (const name of [
      'forwarded',
      'x-real-ip',
      'x-forwarded-port',
      'x-forwarded-prefix',
      'x-forwarded-host',
      'x-forwarded-proto',
      'x-forwarded-ssl',
    ]) {
      expect(isPlantedForwarding(name), name).toBe(true);
    }
    for (const name of ['x-forwarded-for', 'x-forwarded', 'forwarded-for', 'x-real', 'x-ok']) {
      expect(isPlantedForwarding(name), name).toBe(false);
    }
  });
});
