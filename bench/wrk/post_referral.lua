-- wrk script: POST one JSON body per request, each with a unique submission_id, and count statuses.
--   wrk -s bench/wrk/post_referral.lua URL -- BODY_FILE TOKEN RUN
-- BODY_FILE holds the JSON with @SUBMISSION_ID@ where the id goes; TOKEN is the agency's API key
-- (sent as a Bearer token); RUN prefixes every id so runs never collide. The last line printed
-- is "WRK_JSON {...}" with the statuses, request count, duration and latency percentiles.
local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  template = file:read("*a")
  file:close()
  run = args[3]
  counter = 0
  statuses = {}
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[2]
end

function request()
  counter = counter + 1
  local id = run .. "-" .. tid .. "-" .. counter
  local body = string.gsub(template, "@SUBMISSION_ID@", id)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(total) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"statuses": {%s}, "requests": %d, "duration_us": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d}\n',
    table.concat(parts, ", "), summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
