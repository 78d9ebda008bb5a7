-- Governed POST: a unique Idempotency-Key (draft's quoted form) and a new body per request.
-- Usage: wrk -s <this file with wrk_report.lua appended> URL -- <nonce>
-- The nonce keeps keys unique across runs against the same database.
local nonce = "bench"
local counter = 0
local thread_id = 0
local next_thread = 0
local base_headers = {}

function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_id", next_thread)
end

function init(args)
  nonce = args[1] or tostring(os.time())
  for name, value in pairs(wrk.headers) do
    base_headers[name] = value
  end
  base_headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local headers = {}
  for name, value in pairs(base_headers) do
    headers[name] = value
  end
  headers["Idempotency-Key"] = string.format('"%s-%d-%d"', nonce, thread_id, counter)
  local body = string.format('{"name":"item-%d","amount":"12.34"}', counter)
  return wrk.format("POST", nil, headers, body)
end
