-- wrk script of bench/serve.mjs.
-- Environment:
--   WRK_TOKEN=TOKEN   the same bearer token on every request (kept off wrk's
--                     command line)
--   WRK_TOKENS=FILE   one bearer token per line; every request takes the next
--                     one (each thread starts at its own offset and cycles)
--   WRK_STOP_AFTER=N  each thread stops after N / WRK_THREADS responses and
--                     prints `@@wrk-thread-done`
--   WRK_THREADS=N     wrk's -t (the script cannot ask wrk for it)
-- Without WRK_TOKENS the request is wrk's static one, built once, so the
-- script costs nothing per request. done() prints one line
-- `@@wrk-json {...}` (latencies in microseconds) that the harness parses.

local token = os.getenv("WRK_TOKEN")
if token then wrk.headers["Authorization"] = "Bearer " .. token end
local tokens_file = os.getenv("WRK_TOKENS")
local stop_after = tonumber(os.getenv("WRK_STOP_AFTER") or "")
local thread_count = tonumber(os.getenv("WRK_THREADS") or "1")
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  -- `id` (a global of this thread's Lua state) was set by setup().
  ok = 0
  seen = 0
  if tokens_file then
    tokens = {}
    local f = assert(io.open(tokens_file, "r"))
    for line in f:lines() do
      if #line > 0 then tokens[#tokens + 1] = line end
    end
    f:close()
    cursor = math.floor((id or 0) * #tokens / thread_count)
  end
  if stop_after then per_thread = math.ceil(stop_after / thread_count) end
end

if tokens_file then
  function request()
    cursor = cursor % #tokens + 1
    return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. tokens[cursor] })
  end
end

if stop_after then
  function response(status, headers, body)
    seen = seen + 1
    if status >= 200 and status < 300 then ok = ok + 1 end
    if seen == per_thread then
      -- wrk's main thread sleeps for the whole -d whatever the threads do:
      -- the harness sends wrk SIGINT (which ends the run and reports) once
      -- every thread has printed this line.
      io.write("@@wrk-thread-done\n")
      io.flush()
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  local ok_total = 0
  for _, t in ipairs(threads) do ok_total = ok_total + (t:get("ok") or 0) end
  io.write(string.format(
    '@@wrk-json {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f,"ok":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, ok_total))
end
