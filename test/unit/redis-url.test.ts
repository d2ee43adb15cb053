/**
 * The Redis URL as messages show it (src/gateway/limits/redis-store.ts
 * redactRedisUrl): a password never appears, whatever it holds (`@`, `/`,
 * `:`), and what is not a password stays readable.
 */
import { expect, test } from 'vitest';
import { normalizeRedisUrl, redactRedisUrl } from '../../src/gateway/limits/redis-store.js';

test.each([
  ['redis://127.0.0.1:6379/0', 'redis://127.0.0.1:6379/0'],
  ['redis://:secret@127.0.0.1:6379', 'redis://:***@127.0.0.1:6379'],
  ['redis://user:secret@127.0.0.1:6379/2', 'redis://user:***@127.0.0.1:6379/2'],
  ['redis://user:se/cret@127.0.0.1:1', 'redis://user:***@127.0.0.1:1'],
  ['rediss://:p@ss@host:6380', 'rediss://:***@host:6380'],
  ['redis://user:a:b@host', 'redis://user:***@host'],
  ['redis://onlyuser@host', 'redis://onlyuser@host'],
  ['unix:///run/redis.sock', 'unix:///run/redis.sock'],
])('%s is shown as %s', (url, shown) => {
  expect(redactRedisUrl(url)).toBe(shown);
});

test('a URL refused as not a Redis URL does not echo its password', () => {
  let message = '';
  try {
    normalizeRedisUrl('http://user:s3cr/et@host');
  } catch (error) {
    message = (error as Error).message;
  }
  expect(message).toContain('not a Redis URL');
  expect(message).not.toContain('s3cr');
});
