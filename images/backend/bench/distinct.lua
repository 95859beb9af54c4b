-- wrk script for `make bench`'s distinct-key scenario: no request asks a key an earlier one asked.
-- Arguments after `--`: the file of request paths (one per line) and wrk's thread count N. Thread n sends
-- lines n, n+N, n+2N, ... so threads never share a key. A thread that runs out starts over and counts it
-- in `exhausted` (a repeat is a cache hit and would flatter the backend); bench.py refuses such a run.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local paths = {}
local position = 0
exhausted = 0 -- global, so done() can read it through thread:get

function init(args)
  local count = tonumber(args[2])
  local id = wrk.thread:get("id")
  local line = 0
  for path in io.lines(args[1]) do
    if line % count == id then
      table.insert(paths, path)
    end
    line = line + 1
  end
end

function request()
  position = position + 1
  if position > #paths then
    exhausted = exhausted + 1
    position = 1
  end
  return wrk.format("GET", paths[position], { ["Accept-Encoding"] = "gzip" })
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("exhausted")
  end
  io.write(string.format("exhausted: %d\n", total))
end
