-- load_read.lua — wrk script for bench/load_read.sh: GET the paths listed in a file
-- (one per line, passed after `--`), each thread starting at its own place in the
-- list and rotating. Headers given with -H (the bearer token) go with every request.
-- Counts answers outside 2xx/3xx per status, and prints one "load:" line of totals
-- from done() for the shell script to parse.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  local f = assert(io.open(args[1], "r"), "load_read.lua: cannot open the paths file")
  for line in f:lines() do
    if #line > 0 then paths[#paths + 1] = line end
  end
  f:close()
  assert(#paths > 0, "load_read.lua: no paths")
  npaths = #paths
  i = (id * 7919) % #paths
  bad = 0
  bad_status = ""
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end

function response(status, headers, body)
  if status < 200 or status >= 400 then
    bad = bad + 1
    -- Keep the first few statuses, to say what went wrong (the server's log says where).
    if #bad_status < 100 then bad_status = bad_status .. status .. " " end
  end
end

-- done() runs in the main Lua state: per-thread values come through thread:get.
function done(summary, latency, requests)
  local bad_total, why = 0, ""
  for _, t in ipairs(threads) do
    bad_total = bad_total + t:get("bad")
    why = why .. t:get("bad_status")
  end
  local e = summary.errors
  io.write(string.format(
    "load: requests=%d duration_us=%d bad_status=%d connect=%d read=%d write=%d timeout=%d " ..
    "p50_us=%d p90_us=%d p99_us=%d max_us=%d paths=%d\n",
    summary.requests, summary.duration, bad_total, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, threads[1]:get("npaths")))
  if bad_total > 0 then io.write("load: first bad statuses: " .. why .. "\n") end
end
