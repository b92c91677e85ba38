#!lua
-- Sets one employee's totals everywhere they belong. Every write is absolute (HSET of the
-- total, ZADD of the score, a group sum moved by the difference with the member total
-- stored beside it), so running the same call again changes nothing.
--
-- KEYS[1]     the employee's totals hash (period key -> "points:sequence");
-- then, per period key, in the order of ARGV: the global board; with a team, the team
-- board, the team's member totals hash and the period's team sums; with a site, the
-- same three for the site.
-- ARGV[1..4]  employee id, team ('' for none), site ('' for none), listed ('1' or '0');
-- then, per period key: the period key, points, sequence reached, board score.
local employee, team, site, listed = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1'
local per_period = 1
if team ~= '' then per_period = per_period + 3 end
if site ~= '' then per_period = per_period + 3 end

local first = 2
for i = 5, #ARGV, 4 do
  local period_key, points, sequence, score = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  redis.call('HSET', KEYS[1], period_key, points .. ':' .. sequence)
  local boards = {KEYS[first]}
  local groups = {}
  local k = first + 1
  if team ~= '' then
    table.insert(boards, KEYS[k])
    table.insert(groups, {KEYS[k + 1], KEYS[k + 2], team})
    k = k + 3
  end
  if site ~= '' then
    table.insert(boards, KEYS[k])
    table.insert(groups, {KEYS[k + 1], KEYS[k + 2], site})
  end
  first = first + per_period

  for _, board in ipairs(boards) do
    if listed then
      redis.call('ZADD', board, score, employee)
    else
      redis.call('ZREM', board, employee)
    end
  end
  -- group = {member totals hash, sums sorted set, group name}
  for _, group in ipairs(groups) do
    local stored = redis.call('HGET', group[1], employee)
    local old = tonumber(stored or '0')
    if listed then
      local new = tonumber(points)
      redis.call('HSET', group[1], employee, points)
      if old ~= new or redis.call('ZSCORE', group[2], group[3]) == false then
        redis.call('ZINCRBY', group[2], new - old, group[3])
      end
    elseif stored then
      redis.call('HDEL', group[1], employee)
      if redis.call('HLEN', group[1]) == 0 then
        redis.call('ZREM', group[2], group[3])
      else
        redis.call('ZINCRBY', group[2], -old, group[3])
      end
    end
  end
end
return 1
