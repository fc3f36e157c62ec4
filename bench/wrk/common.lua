-- Shared by the bench's wrk scripts: thread numbering and the JSON line done() prints.
-- wrk runs setup() in the main Lua state once per thread, then init()/request() in each
-- thread's own state, then done() in the main state.

local M = {}
M.threads = {}
local counter = 0

function M.setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
   table.insert(M.threads, thread)
end

-- Lines of a data file: line 1 is the request body (or its template), the rest the
-- per-thread values (tokens or usernames).
function M.read_lines(path)
   local lines = {}
   for line in io.lines(path) do
      if line ~= "" then table.insert(lines, line) end
   end
   return lines
end

function M.done(summary, latency, requests)
   local bad = 0
   for _, thread in ipairs(M.threads) do
      bad = bad + (tonumber(thread:get("bad")) or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,' ..
      '"connect":%d,"read":%d,"write":%d,"timeout":%d,"bad":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes, e.status,
      e.connect, e.read, e.write, e.timeout, bad,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end

return M
