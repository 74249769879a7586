-- wrk script for bench/intake_api.py: POST distinct valid referrals to /api/v1/referrals.
--
-- Inputs (environment, set by intake_api.py):
--   BENCH_KEY                partner API key (Bearer)
--   BENCH_TEXT_VERSION_JSON  the consent text version as a JSON string literal (quoted)
--   BENCH_ID_BASE            first thread id of this run (runs must not share ids)
--   BENCH_SPAN               unique integers per thread id (ids * span <= 7,000,000 phones)
-- Every request gets a unique integer u = id * span + n (n: per-thread counter), from which the
-- email (lead<id>_<n>@example.org), the phone (+1 312 XXX YYYY, XXX 200..899) and the
-- Idempotency-Key are derived, so no two referrals of one benchmark are duplicates.
-- done() prints one "RESULT ..." line and one "STATUS ..." line per status, parsed by Python.

local key = os.getenv("BENCH_KEY") or error("BENCH_KEY is not set")
local text_version = os.getenv("BENCH_TEXT_VERSION_JSON") or error("BENCH_TEXT_VERSION_JSON")
local id_base = tonumber(os.getenv("BENCH_ID_BASE") or "0")
local span = tonumber(os.getenv("BENCH_SPAN") or "1000000")

-- main state: thread ids and the thread list, for done()
local threads = {}
local next_id = id_base

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

-- thread state
local n = 0
statuses = {}

local head = '{"program":"trial-prescreening","source":"study-coordinator",'
   .. '"request_type":"trial_prescreen","therapy_area":"oncology",'
   .. '"lead":{"kind":"patient","given_name":"Bench","family_name":"Lead'
local consent_and_answers = '"preferred_contact":"phone","timezone":"America/Chicago",'
   .. '"country":"US","birth_year":1970},'
   .. '"consent":{"granted":true,"purposes":["trial_contact"],"channels":["phone","email"],'
   .. '"method":"attested_by_referrer","text_version":' .. text_version .. '},'
   .. '"answers":{"study_id":"RDX-301","age":54,"diagnosis_confirmed":true,"ecog":1,'
   .. '"prior_therapy_lines":1,"active_brain_metastases":false}}'

function request()
   n = n + 1
   if n >= span then
      error("thread " .. id .. " ran out of unique numbers (span " .. span .. ")")
   end
   local u = id * span + n
   local phone = string.format("+1 312 %03d %04d", 200 + math.floor(u / 10000) % 700, u % 10000)
   local body = head .. id .. "_" .. n .. '",'
      .. '"email":"lead' .. id .. "_" .. n .. '@example.org",'
      .. '"phone":"' .. phone .. '",'
      .. consent_and_answers
   local headers = {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. key,
      ["Idempotency-Key"] = "bench-wrk-" .. id .. "-" .. n,
   }
   return wrk.format("POST", nil, headers, body)
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
