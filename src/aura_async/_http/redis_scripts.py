"""The Lua scripts that keep a rate budget shared on Redis, each one atomic on the server.

The budget is the in-process limiter's rule (see :mod:`aura_async._http.limiter`) kept for all
processes together, on Redis's clock (``TIME``), so the processes' own clocks never matter:

- ``flight``: a sorted set of the permits in flight, member ``<process>|<n>``, score the
  time it was granted. A permit holds its slot until it completes.
- ``log``: the permits completed within the last period, scored by completion time; each
  frees its slot ``period`` (plus a thousandth) after it.
- ``procs``: each live process's last sign of life. A process silent for ``dead_after``
  seconds is dead: its permits in flight move to ``log`` as if completed at
  ``last + dead_after`` (after any moment it could still have sent them), so a killed process
  blocks nothing for longer than that plus one period.
- ``queue`` and ``seen``: the head waiter of each process that is waiting, scored
  ``priority * 1e13 + arrival in ms``, so mutations go ahead of reads across processes and
  processes of one priority take turns in order of arrival. A process's entry leaves when it
  is granted, so its next waiter queues again at the back: with P processes waiting, none
  waits for more than P - 1 grants to the others of its own (or a more urgent) priority per
  free slot. A waiting head asks at least once a heartbeat; entries not refreshed within two
  heartbeats are dropped, so a dead or cut-off process holds no slot back for long.
- ``cool``: when the last Retry-After seen by any process ends; no permit before then.
- ``limit``: a lower limit any process learned from repeated 429s; every process keeps it.
- ``epoch``: set by the first call of a budget's life, and kept. Missing means the budget is
  new or Redis lost its data: the call creates it and holds every grant for two heartbeats and
  a margin (once per credential and Redis), while each live process, seeing a new epoch, puts
  its own record back.

Every key but the epoch expires a while after the last call, so a budget nobody uses leaves
one small key behind.
Numbers leave Lua as strings: Redis would truncate a Lua number to an integer.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "FLUSH", "KEY_NAMES", "REPLAY"]

# The order of KEYS in every script.
KEY_NAMES = ("flight", "log", "procs", "queue", "seen", "cool", "limit", "epoch")

_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local proc = ARGV[1]
local ttl = tonumber(ARGV[2])
-- Within this many seconds every live process is heard from (two heartbeats and a margin).
local heard = tonumber(ARGV[3])
local function touch()
  -- All but the epoch, which lives until Redis loses it: a budget idle for long is not new.
  for i = 1, #KEYS - 1 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
-- A budget without an epoch is new, or Redis lost its data (a restart, a failover): hold
-- every grant until each live process has been heard from, seen the new epoch and put its
-- own record back.
local epoch = redis.call('GET', KEYS[8])
if not epoch then
  epoch = tostring(now)
  redis.call('SET', KEYS[8], epoch)
  local hold = now + heard
  local cooling = tonumber(redis.call('GET', KEYS[6]) or '0')
  if hold > cooling then redis.call('SET', KEYS[6], tostring(hold)) end
end
-- Take process p out of the budget: its permits in flight count as completed at `at`.
local function retire(p, at)
  local prefix = p .. '|'
  for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    if string.sub(m, 1, #prefix) == prefix then
      redis.call('ZREM', KEYS[1], m)
      redis.call('ZADD', KEYS[2], at, m)
    end
  end
  redis.call('ZREM', KEYS[3], p)
  redis.call('ZREM', KEYS[4], p)
  redis.call('ZREM', KEYS[5], p)
end
"""

ACQUIRE = (
    _PRELUDE
    + """
-- ARGV: 1 process, 2 ttl ms, 3 heard, 4 priority, 5 limit, 6 period, 7 dead_after,
--       8 permit name
local priority = tonumber(ARGV[4])
local limit = tonumber(ARGV[5])
local period = tonumber(ARGV[6])
local dead_after = tonumber(ARGV[7])
local keep = period * 1.001

-- Reap dead processes: their slots count as completed when they were last possibly alive.
for _, p in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now - dead_after)) do
  retire(p, tonumber(redis.call('ZSCORE', KEYS[3], p)) + dead_after)
end
redis.call('ZADD', KEYS[3], now, proc)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - keep)

-- Drop queue entries whose process stopped asking (a waiter lost without leaving, a process
-- dead or cut off): a live waiting head asks at least every heartbeat.
local stale = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now - heard)
for _, p in ipairs(stale) do
  redis.call('ZREM', KEYS[4], p)
  redis.call('ZREM', KEYS[5], p)
end

local low = tonumber(redis.call('GET', KEYS[7]))
if low and low < limit then limit = low end
local cool = tonumber(redis.call('GET', KEYS[6]) or '0')

-- Queue this process's head, keeping its arrival if it was already waiting.
local score = redis.call('ZSCORE', KEYS[4], proc)
local arrival = math.floor(now * 1000)
if score then arrival = tonumber(score) % 10000000000000 end
redis.call('ZADD', KEYS[4], priority * 10000000000000 + arrival, proc)
redis.call('ZADD', KEYS[5], now, proc)
local rank = redis.call('ZRANK', KEYS[4], proc)
local nlog = redis.call('ZCARD', KEYS[2])
local used = redis.call('ZCARD', KEYS[1]) + nlog

local granted = 0
local delay
if cool > now then
  delay = cool - now
elseif rank < limit - used then
  redis.call('ZREM', KEYS[4], proc)
  redis.call('ZREM', KEYS[5], proc)
  redis.call('ZADD', KEYS[1], now, ARGV[8])
  granted = 1
  delay = 0
elseif used < limit then
  -- Slots are free, but for processes ahead of this one: ask again very soon.
  delay = 0
else
  -- Every waiting head wakes when the next slot frees (the first completion expires), so a
  -- process granted a moment ago, and queued again at the back, never finds the others
  -- asleep. A slot held in flight frees no sooner than a period from now.
  local index = used - limit
  if index < nlog then
    local entry = redis.call('ZRANGE', KEYS[2], index, index, 'WITHSCORES')
    delay = tonumber(entry[2]) + keep - now
  else
    delay = period
  end
end
touch()
local cool_left = cool - now
if cool_left < 0 then cool_left = 0 end
return {tostring(granted), tostring(delay), tostring(limit), tostring(cool_left), epoch}
"""
)

FLUSH = (
    _PRELUDE
    + """
-- ARGV: 1 process, 2 ttl ms, 3 heard, 4 leave the queue (0/1), 5 cool-down seconds or '',
--       6 lowered limit or '', 7 exit (0/1), then pairs of permit name and sent (0/1).
redis.call('ZADD', KEYS[3], now, proc)
if ARGV[4] == '1' then
  redis.call('ZREM', KEYS[4], proc)
  redis.call('ZREM', KEYS[5], proc)
end
if ARGV[5] ~= '' then
  local untill = now + tonumber(ARGV[5])
  local cool = tonumber(redis.call('GET', KEYS[6]) or '0')
  if untill > cool then redis.call('SET', KEYS[6], tostring(untill)) end
end
if ARGV[6] ~= '' then
  local low = tonumber(redis.call('GET', KEYS[7]))
  local new = tonumber(ARGV[6])
  if not low or new < low then redis.call('SET', KEYS[7], tostring(new)) end
end
for i = 8, #ARGV, 2 do
  redis.call('ZREM', KEYS[1], ARGV[i])
  if ARGV[i + 1] == '1' then
    redis.call('ZADD', KEYS[2], now, ARGV[i])
  else
    redis.call('ZREM', KEYS[2], ARGV[i])
  end
end
if ARGV[7] == '1' then
  retire(proc, now)  -- leaving for good: whatever is still in flight completed now
end
touch()
return {tostring(now), epoch}
"""
)

REPLAY = (
    _PRELUDE
    + """
-- After Redis was away: put back what this process knows of its own requests, in case the
-- server lost them. ARGV: 1 process, 2 ttl ms, 3 heard, 4 offset from the process's clock to
-- Redis's,
-- then triples of permit name, state ('f' in flight, 'd' done) and local completion time.
-- NX: whatever the server still holds is kept as it is.
local offset = tonumber(ARGV[4])
redis.call('ZADD', KEYS[3], now, proc)
for i = 5, #ARGV, 3 do
  if ARGV[i + 1] == 'f' then
    redis.call('ZADD', KEYS[1], 'NX', now, ARGV[i])
  else
    local at = tonumber(ARGV[i + 2]) + offset
    if at > now then at = now end
    redis.call('ZADD', KEYS[2], 'NX', at, ARGV[i])
  end
end
touch()
return {tostring(now), epoch}
"""
)
