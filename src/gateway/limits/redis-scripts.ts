/**
 * The Lua scripts of RedisStore: one per algorithm, each the same arithmetic
 * as its pure function in algorithms.ts (read them side by side), run
 * atomically on the server so that every gateway process sharing the Redis
 * shares one count.
 *
 * Calling convention (all of them):
 *   KEYS[1] = the counter's base key, `oidcgw:<api>:<rule>:<algorithm>:<identity>`
 *   ARGV[1] limit, ARGV[2] periodMs, ARGV[3] cost, ARGV[4] what to count:
 *           '1' refused requests too (countRefused), '0' passing ones only,
 *           'n' nothing (CountMode check), 'a' this one whatever the answer
 *           (CountMode add),
 *   ARGV[5] now in epoch ms, or '' to read the server clock (`TIME`),
 *   ARGV[6] TTL grace in ms (added to every expiry: keys outlive their
 *           window a little, never shorter),
 *   ARGV[7] algorithm-specific: sliding_log a per-request nonce (members of
 *           the sorted set must be unique), fixed_calendar the unit,
 *           fixed_from_start the start ms.
 *   Reply: { allowed (1|0), remaining (may be negative), resetMs, nowMs }.
 *
 * Windowed algorithms derive their keys from KEYS[1] plus `:<window start>`,
 * so they run on one Redis (or a primary with replicas), not Redis Cluster.
 * Since Redis 5 scripts replicate their effects, so calling TIME before
 * writing is allowed. Every key gets a TTL (PEXPIRE, relative, computed from
 * the script's own now), except a quota that never renews.
 */
import { createHash } from 'node:crypto';
import type { LimitAlgorithm } from '../plan.js';
import { NEVER_MS } from './algorithms.js';

const PRELUDE = `
local base = KEYS[1]
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local countRefused = ARGV[4] == '1' or ARGV[4] == 'a'
local writes = ARGV[4] ~= 'n'
local now
if ARGV[5] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[5])
end
local grace = tonumber(ARGV[6])
local function fmt(n) return string.format('%.0f', n) end
`;

const SLIDING_LOG = `${PRELUDE}
local nonce = ARGV[7]
redis.call('ZREMRANGEBYSCORE', base, '-inf', fmt(now - period))
local n = redis.call('ZCARD', base)
local allowed = n + cost <= limit
if writes and (allowed or countRefused) then
  local add = math.min(cost, limit)
  for i = 1, add do
    redis.call('ZADD', base, fmt(now), fmt(now) .. ':' .. nonce .. ':' .. i)
  end
  n = n + add
  if n > limit then
    redis.call('ZREMRANGEBYRANK', base, 0, n - limit - 1)
    n = limit
  end
  if n > 0 then
    local newest = tonumber(redis.call('ZRANGE', base, -1, -1, 'WITHSCORES')[2])
    redis.call('PEXPIRE', base, fmt(newest + period - now + grace))
  end
end
local reset
if allowed then
  if n > 0 then
    reset = tonumber(redis.call('ZRANGE', base, 0, 0, 'WITHSCORES')[2]) + period
  else
    reset = now
  end
elseif cost > limit then
  reset = now + period
else
  local k = n - (limit - cost) - 1
  reset = tonumber(redis.call('ZRANGE', base, k, k, 'WITHSCORES')[2]) + period
end
return { allowed and 1 or 0, limit - n, reset, now }
`;

const SLIDING_WINDOW = `${PRELUDE}
local start = math.floor(now / period) * period
local curKey = base .. ':' .. fmt(start)
local prevKey = base .. ':' .. fmt(start - period)
local current = tonumber(redis.call('GET', curKey) or '0')
local previous = tonumber(redis.call('GET', prevKey) or '0')
local elapsed = now - start
local weighted = previous * (period - elapsed)
local allowed = weighted <= (limit - cost - current) * period
if writes and (allowed or countRefused) then
  current = redis.call('INCRBY', curKey, cost)
  redis.call('PEXPIRE', curKey, fmt(start + 2 * period - now + grace))
end
local remaining = limit - current - math.ceil(weighted / period)
local reset = nil
if allowed then
  reset = start + period
else
  local room = limit - cost - current
  if room >= 0 and previous > 0 then
    local e = math.ceil((period * (previous - room)) / previous)
    if e > elapsed and e <= period then reset = start + e end
  end
  if reset == nil then
    local nextRoom = limit - cost
    if nextRoom < 0 then
      reset = start + elapsed + period
    elseif current <= nextRoom then
      reset = start + period
    else
      reset = start + period + math.ceil((period * (current - nextRoom)) / current)
    end
  end
end
return { allowed and 1 or 0, remaining, reset, now }
`;

/** The shared tail of the fixed windows, once \`key\`, \`start\` and \`finish\` are set. */
const FIXED_TAIL = `
local count = tonumber(redis.call('GET', key) or '0')
local allowed = count + cost <= limit
if writes and (allowed or countRefused) then
  count = redis.call('INCRBY', key, cost)
  if finish < ${NEVER_MS} then
    redis.call('PEXPIRE', key, fmt(finish - now + grace))
  end
end
return { allowed and 1 or 0, limit - count, finish, now }
`;

const FIXED_CALENDAR = `${PRELUDE}
local unit = ARGV[7]
local DAY = 86400000
-- Days since 1970-01-01 of a proleptic Gregorian date, and back (the
-- era-of-400-years arithmetic of Howard Hinnant's "chrono-compatible
-- low-level date algorithms"), because the sandbox has no os.date.
local function daysFromCivil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
local function civilFromDays(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m
  if mp < 10 then m = mp + 3 else m = mp - 9 end
  if m <= 2 then y = y + 1 end
  return y, m
end
local start, finish
if unit == 'month' or unit == 'year' then
  local y, m = civilFromDays(math.floor(now / DAY))
  if unit == 'year' then
    start = daysFromCivil(y, 1, 1) * DAY
    finish = daysFromCivil(y + 1, 1, 1) * DAY
  else
    start = daysFromCivil(y, m, 1) * DAY
    if m == 12 then finish = daysFromCivil(y + 1, 1, 1) * DAY
    else finish = daysFromCivil(y, m + 1, 1) * DAY end
  end
else
  local len = DAY
  if unit == 'second' then len = 1000
  elseif unit == 'minute' then len = 60000
  elseif unit == 'hour' then len = 3600000 end
  start = math.floor(now / len) * len
  finish = start + len
end
local key = base .. ':' .. fmt(start)
${FIXED_TAIL}`;

const FIXED_FROM_START = `${PRELUDE}
local origin = tonumber(ARGV[7])
local start, finish, key
if period == 0 then
  start = origin
  finish = ${NEVER_MS}
  key = base
else
  start = origin + math.floor((now - origin) / period) * period
  finish = start + period
  key = base .. ':' .. fmt(start)
end
${FIXED_TAIL}`;

const FIXED_FIRST_REQUEST = `${PRELUDE}
local h = redis.call('HMGET', base, 'start', 'count')
local start = tonumber(h[1])
local count = tonumber(h[2])
local open = start ~= nil and count ~= nil and now >= start and now < start + period
if not open then
  start = now
  count = 0
end
local allowed = count + cost <= limit
if writes and (allowed or countRefused) then count = count + cost end
if writes and ((not open) or allowed or countRefused) then
  redis.call('HSET', base, 'start', fmt(start), 'count', fmt(count))
  redis.call('PEXPIRE', base, fmt(start + period - now + grace))
end
return { allowed and 1 or 0, limit - count, start + period, now }
`;

export interface LuaScript {
  readonly source: string;
  /** SHA-1 of the source, as EVALSHA wants it. */
  readonly sha: string;
}

function script(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source, 'utf8').digest('hex') };
}

export const SCRIPTS: Readonly<Record<LimitAlgorithm, LuaScript>> = {
  sliding_log: script(SLIDING_LOG),
  sliding_window: script(SLIDING_WINDOW),
  fixed_calendar: script(FIXED_CALENDAR),
  fixed_first_request: script(FIXED_FIRST_REQUEST),
  fixed_from_start: script(FIXED_FROM_START),
};
