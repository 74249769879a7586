-- wrk script for bench/intake_api.py: the ceiling, POST {"n": <unique>} to /bench/ceiling.
-- Same thread ids, counters and output lines (RESULT / STATUS) as wrk_intake.lua.

local id_base = tonumber(os.getenv("BENCH_ID_BASE") or "0")
local span = tonumber(os.getenv("BENCH_SPAN") or "1000000")

local threads = {}
local next_id = id_base

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local n = 0
statuses = {}
local headers = { ["Content-Type"] = "application/json" }

function request()
   n = n + 1
   return wrk.format("POST", nil, headers, '{"n":' .. (id * span + n) .. '}')
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d errors_status=%d "
         .. "errors_connect=%d errors_read=%d errors_write=%d errors_timeout=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      latency.max, e.status, e.connect, e.read, e.write, e.timeout))
   local total = {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         total[status] = (total[status] or 0) + count
      end
   end
   for status, count in pairs(total) do
      io.write(string.format("STATUS %d %d\n", status, count))
   end
end
