#!lua
-- Takes one employee out of the boards and group sums of a placement (before a move).
--
-- KEYS        per period key: the global board; with a team, the team board, the team's
--             member totals hash and the period's team sums; with a site, the same three
--             for the site.
-- ARGV[1..3]  employee id, team ('' for none), site ('' for none).
local employee, team, site = ARGV[1], ARGV[2], ARGV[3]
local per_period = 1
if team ~= '' then per_period = per_period + 3 end
if site ~= '' then per_period = per_period + 3 end

for first = 1, #KEYS, per_period do
  redis.call('ZREM', KEYS[first], employee)
  local groups = {}
  local k = first + 1
  if team ~= '' then
    redis.call('ZREM', KEYS[k], employee)
    table.insert(groups, {KEYS[k + 1], KEYS[k + 2], team})
    k = k + 3
  end
  if site ~= '' then
    redis.call('ZREM', KEYS[k], employee)
    table.insert(groups, {KEYS[k + 1], KEYS[k + 2], site})
  end
  -- group = {member totals hash, sums sorted set, group name}
  for _, group in ipairs(groups) do
    local old = redis.call('HGET', group[1], employee)
    if old then
      redis.call('HDEL', group[1], employee)
      if redis.call('HLEN', group[1]) == 0 then
        redis.call('ZREM', group[2], group[3])
      else
        redis.call('ZINCRBY', group[2], -tonumber(old), group[3])
      end
    end
  end
end
return 1
