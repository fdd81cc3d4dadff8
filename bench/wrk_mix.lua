-- The bench's command mix (bench/mix.py) for wrk, Debian's HTTP load generator: an outside
-- client written in C, whose own CPU is small, so the API's figures are not our generator's alone.
--
-- wrk is closed loop: each connection sends its next command when the last one is answered.
-- It does not say which request an answer belongs to, so what this script knows of each queue
-- comes from the answers themselves (every command answers its ticket: id, status, counter):
-- a ticket answered "waiting" can be called, "called" started or marked a no-show, "serving"
-- completed; "served" or "no_show" frees its counter. A counter asked to call is held back for
-- HOLD_S, so two connections do not send the same counter at once.
--
-- Environment: VQ_WRK_QUEUES (queue ids, comma separated), VQ_WRK_STAFF and VQ_WRK_KIOSK (API
-- keys), VQ_WRK_OUT (where done() writes its JSON). Each wrk thread takes its own share of
-- the queues.

local WEIGHTS = {
  { "enqueue", 27 }, { "call-next", 24 }, { "start", 22 }, { "complete", 22 },
  { "no-show", 3 }, { "cancel", 3 },
}
local LONG_LINE = 40
local COUNTERS = 20
local HOLD_S = 2

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_index", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local queues, names = {}, {}
local staff, kiosk
ok, rejected, failed = 0, 0, 0
sent, refused = {}, {}  -- per command, per status of a 4xx (read by done() from every thread)

local function split(text)
  local out = {}
  for item in string.gmatch(text or "", "[^,]+") do table.insert(out, item) end
  return out
end

function init(args)
  local all = split(os.getenv("VQ_WRK_QUEUES"))
  local count = tonumber(os.getenv("VQ_WRK_THREADS") or "1")
  for i, id in ipairs(all) do
    if (i - 1) % count == thread_index then
      local model = { waiting = {}, called = {}, serving = {}, busy = {}, held = {}, counter_of = {} }
      queues[id] = model
      table.insert(names, id)
    end
  end
  staff = "Bearer " .. os.getenv("VQ_WRK_STAFF")
  kiosk = "Bearer " .. os.getenv("VQ_WRK_KIOSK")
  math.randomseed(os.time() + thread_index * 7919)
end

local function pick(list)
  local n = #list
  if n == 0 then return nil end
  local i = math.random(n)
  local item = list[i]
  list[i] = list[n]
  list[n] = nil
  return item
end

local function remove(list, item)
  for i = 1, #list do
    if list[i] == item then
      list[i] = list[#list]
      list[#list] = nil
      return
    end
  end
end

local function free_counter(model)
  local now = os.time()
  local start = math.random(COUNTERS)
  for k = 0, COUNTERS - 1 do
    local c = tostring((start + k - 1) % COUNTERS + 1)
    if not model.busy[c] and (model.held[c] or 0) + HOLD_S <= now then
      model.held[c] = now
      return c
    end
  end
  return nil
end

local function choose_op(model)
  local total = 0
  local enqueue_weight = #model.waiting > LONG_LINE and 2 or WEIGHTS[1][2]
  for i, w in ipairs(WEIGHTS) do total = total + (i == 1 and enqueue_weight or w[2]) end
  local r = math.random() * total
  for i, w in ipairs(WEIGHTS) do
    r = r - (i == 1 and enqueue_weight or w[2])
    if r <= 0 then return w[1] end
  end
  return "enqueue"
end

local function key()
  return string.format("%08x%08x%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff),
    math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

local function post(op, path, auth, body)
  sent[op] = (sent[op] or 0) + 1
  local headers = { ["Authorization"] = auth, ["Idempotency-Key"] = key() }
  if body then headers["Content-Type"] = "application/json" end
  return wrk.format("POST", path, headers, body)
end

function request()
  local id = names[math.random(#names)]
  local model = queues[id]
  local op = choose_op(model)
  if op == "call-next" and #model.waiting > 0 then
    local counter = free_counter(model)
    if counter then
      return post(op, "/v1/queues/" .. id .. "/call-next", staff, '{"counter":"' .. counter .. '"}')
    end
  elseif (op == "start" or op == "no-show") and #model.called > 0 then
    return post(op, "/v1/tickets/" .. pick(model.called) .. "/" .. op, staff, nil)
  elseif op == "complete" and #model.serving > 0 then
    return post(op, "/v1/tickets/" .. pick(model.serving) .. "/complete", staff, nil)
  elseif op == "cancel" and #model.waiting > 1 then
    local ticket = table.remove(model.waiting)  -- the newest: rarely the one being called
    return post(op, "/v1/tickets/" .. ticket .. "/cancel", staff, nil)
  end
  return post("enqueue", "/v1/queues/" .. id .. "/tickets", kiosk, '{"channel":"kiosk"}')
end

function response(status, headers, body)
  if status >= 500 or status < 200 then
    failed = failed + 1
    return
  end
  if status >= 300 then
    rejected = rejected + 1
    refused[tostring(status)] = (refused[tostring(status)] or 0) + 1
    return
  end
  ok = ok + 1
  local queue_id = string.match(body, '"queue_id"%s*:%s*"([^"]+)"')
  local model = queue_id and queues[queue_id]
  local ticket = string.match(body, '"ticket_id"%s*:%s*"([^"]+)"')
  local state = string.match(body, '"status"%s*:%s*"([^"]+)"')
  if not model or not ticket or not state then return end
  if state == "waiting" then
    table.insert(model.waiting, ticket)
  elseif state == "called" then
    remove(model.waiting, ticket)
    local counter = string.match(body, '"counter"%s*:%s*"([^"]+)"')
    if counter then
      model.busy[counter] = true
      model.counter_of[ticket] = counter
    end
    table.insert(model.called, ticket)
  elseif state == "serving" then
    table.insert(model.serving, ticket)
  elseif state == "served" or state == "no_show" then
    local counter = model.counter_of[ticket]
    if counter then
      model.busy[counter] = nil
      model.counter_of[ticket] = nil
    end
  end
end

function done(summary, latency, requests)
  local answers = { ok = 0, rejected = 0, failed = 0 }
  for _, t in ipairs(threads) do
    for name, _ in pairs(answers) do answers[name] = answers[name] + (t:get(name) or 0) end
  end
  local function merged(name)
    local total, parts = {}, {}
    for _, t in ipairs(threads) do
      for k, n in pairs(t:get(name) or {}) do total[k] = (total[k] or 0) + n end
    end
    for k, n in pairs(total) do table.insert(parts, string.format('"%s": %d', k, n)) end
    table.sort(parts)
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  local quantiles = {}
  for _, p in ipairs({ 50, 90, 95, 99, 99.9 }) do
    table.insert(quantiles, string.format('"%s": %.3f', tostring(p), latency:percentile(p) / 1000))
  end
  local e = summary.errors
  local out = io.open(os.getenv("VQ_WRK_OUT"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_s": %.3f, "ok": %d, "rejected": %d, "failed": %d, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"non_2xx_3xx": %d, "sent": %s, "refused": %s, ' ..
    '"latency_ms": {%s, "mean": %.3f, "max": %.3f}}\n',
    summary.requests, summary.duration / 1e6, answers.ok, answers.rejected, answers.failed,
    e.connect, e.read, e.write, e.timeout, e.status, merged("sent"), merged("refused"),
    table.concat(quantiles, ", "),
    latency.mean / 1000, latency.max / 1000))
  out:close()
end
