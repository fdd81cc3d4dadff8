"""The Lua scripts of the query side's reads (`projections.queries.ReadModels`): each reads
the keys it combines at one instant, one stream version of the queue.

`#!lua` without `no-writes`: a full Redis refuses them before they run, as it refuses a queue's
read (a MULTI); see `projections.queries` on why a full Redis serves no view.
"""

from __future__ import annotations

# One hop of a ticket: the queue's version, the ticket's view, its rank in the line, its wait
# range and, while it waits, the queue's status (open, paused: nobody is called; closed), read
# at one instant; the queue's view is stored with sorted keys and no spaces
# (projections.views.dumps). KEYS: queue hash, ticket view, line, eta hash; ARGV: ticket id.
# `#!lua` without `no-writes`: refused by a full Redis, as a queue's read is (see above).
TICKET = """#!lua
local version = redis.call('HGET', KEYS[1], 'version')
local view = redis.call('GET', KEYS[2])
local rank = false
local eta = false
local status = false
if view then
  local member = cjson.decode(view)['line']
  if type(member) == 'string' then
    rank = redis.call('ZRANK', KEYS[3], member)
    eta = redis.call('HGET', KEYS[4], ARGV[1])
    local queue = redis.call('HGET', KEYS[1], 'view')
    if queue then  -- found, not decoded (a 1.4 KB view decoded: 23 us in Redis, found: 13,
      -- the script without it: 7.5); a queue's statuses are none of its tickets' (the view's
      -- `now_serving` has those: called, serving)
      if string.find(queue, '"status":"paused"', 1, true) then status = 'paused'
      elseif string.find(queue, '"status":"closed"', 1, true) then status = 'closed'
      else status = 'open' end
    end
  end
end
return {version or false, view or false, rank, eta, status}
"""

# A page of the line and the views and wait ranges of its tickets at one version. KEYS: queue
# hash, line, eta hash; ARGV: offset, limit, the queue's ticket key prefix. The ticket keys are
# derived inside the script (as the writer's CLEARQUEUE does): fine on one Redis, not on a Redis
# Cluster. `#!lua` without `no-writes`: refused by a full Redis, as a queue's read is.
PAGE = """#!lua
local version = redis.call('HGET', KEYS[1], 'version')
if not version then return false end
local offset = tonumber(ARGV[1])
local members = redis.call('ZRANGE', KEYS[2], offset, offset + tonumber(ARGV[2]) - 1)
local views = {}
local etas = {}
if #members > 0 then
  local keys = {}
  local ids = {}
  for i, member in ipairs(members) do
    ids[i] = string.match(member, '([^|]+)$')
    keys[i] = ARGV[3] .. ids[i]
  end
  views = redis.call('MGET', unpack(keys))
  etas = redis.call('HMGET', KEYS[3], unpack(ids))
end
return {version, redis.call('ZCARD', KEYS[2]), members, views, etas}
"""
