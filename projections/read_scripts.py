"""The Lua scripts of the query side's reads (`projections.queries.ReadModels`): each reads
the keys it combines at one instant, one stream version of the queue.

`#!lua` without `no-writes`: a full Redis refuses them before they run, as it refuses a queue's
read (a MULTI); see `projections.queries` on why a full Redis serves no view.
"""

from __future__ import annotations

# The queue's status (open, paused: nobody is called; closed), from its view (KEYS[1]'s
# `view`), found, not decoded: a 1.4 KB view decoded took the ticket's script 23 us in Redis,
# found 13, the script without it 7.5. The view is stored with sorted keys and no spaces
# (projections.views.dumps), and a queue's statuses are none of its tickets' (`now_serving`
# holds those: called, serving).
_QUEUE_STATUS = """
local function queue_status(key)
  local queue = redis.call('HGET', key, 'view')
  if not queue then return false end
  if string.find(queue, '"status":"paused"', 1, true) then return 'paused' end
  if string.find(queue, '"status":"closed"', 1, true) then return 'closed' end
  return 'open'
end
"""

# One hop of a ticket: the queue's version, the ticket's view, its rank in the line, its wait
# range and, while it waits, the queue's status, read at one instant. KEYS: queue hash, ticket
# view, line, eta hash; ARGV: ticket id.
# `#!lua` without `no-writes`: refused by a full Redis, as a queue's read is (see above).
TICKET = f"""#!lua
{_QUEUE_STATUS}
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
    status = queue_status(KEYS[1])
  end
end
return {{version or false, view or false, rank, eta, status}}
"""

# A page of the line, the views and wait ranges of its tickets and the queue's status at one
# version. KEYS: queue hash, line, eta hash; ARGV: offset, limit, the queue's ticket key prefix.
# The ticket keys are derived inside the script (as the writer's CLEARQUEUE does): fine on one
# Redis, not on a Redis Cluster. `#!lua` without `no-writes`: refused by a full Redis, as a
# queue's read is.
PAGE = f"""#!lua
{_QUEUE_STATUS}
local version = redis.call('HGET', KEYS[1], 'version')
if not version then return false end
local offset = tonumber(ARGV[1])
local members = redis.call('ZRANGE', KEYS[2], offset, offset + tonumber(ARGV[2]) - 1)
local views = {{}}
local etas = {{}}
if #members > 0 then
  local keys = {{}}
  local ids = {{}}
  for i, member in ipairs(members) do
    ids[i] = string.match(member, '([^|]+)$')
    keys[i] = ARGV[3] .. ids[i]
  end
  views = redis.call('MGET', unpack(keys))
  etas = redis.call('HMGET', KEYS[3], unpack(ids))
end
return {{version, redis.call('ZCARD', KEYS[2]), members, views, etas, queue_status(KEYS[1])}}
"""
