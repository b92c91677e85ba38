#!lua
-- Moves one employee's place in the active member counts (the per-member average's
-- divisor): out of their former team and site, into the new ones.
--
-- KEYS[1..3]  the hash employee -> "team<TAB>site" of active listed employees, and the
--             count hashes of teams and of sites.
-- ARGV[1..2]  employee id, "team<TAB>site" now ('' when not an active listed employee).
local employee, new = ARGV[1], ARGV[2]
local old = redis.call('HGET', KEYS[1], employee) or ''
if old == new then return 0 end

local function move(value, delta)
  if value == '' then return end
  local tab = string.find(value, '\t', 1, true)
  local team, site = string.sub(value, 1, tab - 1), string.sub(value, tab + 1)
  if team ~= '' then redis.call('HINCRBY', KEYS[2], team, delta) end
  if site ~= '' then redis.call('HINCRBY', KEYS[3], site, delta) end
end

move(old, -1)
move(new, 1)
if new == '' then
  redis.call('HDEL', KEYS[1], employee)
else
  redis.call('HSET', KEYS[1], employee, new)
end
return 1
