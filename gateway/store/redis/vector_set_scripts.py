"""The Lua scripts that change a vector-set store (`vector_sets.py`) atomically, each on the keys of one slot so
a Redis Cluster runs it too: write or move an entry, delete one, and remove one page of a scope. Each says the
KEYS and ARGV it takes, in the order the store passes them."""

# Create or refill an entry atomically. An entry keeps its vector when refilled without one; one without any
# vector joins its scope's exact-only set, so a flush by route or tenant still finds it. Each hash records its
# scope digest, so a rewrite under other tags leaves the old scope, and `delete` knows where to look.
# A vector set key that holds anything else stops the write before it changes anything, and says what it holds.
# Every key is the caller's (a cluster allows no other): an entry moving from a scope the caller did not name
# changes nothing and returns that scope, for the caller to name its keys and write again.
# KEYS: hash, scope vector set, scope exact-only set, scope registry, [old vector set, old exact-only set].
# ARGV: element, scope, [route, user] JSON, ttl_ms, answer, FP32 vector or '', attributes, old scope or '',
# how much longer than the answer its stale copy lives (0: no copy), quantisation (Q8 or NOQUANT), fields...
WRITE = """
local kind = redis.call('TYPE', KEYS[2])['ok']
if kind == 'vectorset' and ARGV[6] ~= '' then
  local dim = redis.call('VDIM', KEYS[2])
  if dim * 4 ~= #ARGV[6] then return 'a vector set of ' .. dim .. '-d vectors' end
elseif kind ~= 'none' and kind ~= 'vectorset' then
  return 'a ' .. kind
end
local old = redis.call('HGET', KEYS[1], 'scope')
if old and old ~= ARGV[2] then
  if old ~= ARGV[8] then return {old} end
  redis.call('VREM', KEYS[5], ARGV[1])
  redis.call('SREM', KEYS[6], ARGV[1])
end
redis.call('HSET', KEYS[1], 'scope', ARGV[2], unpack(ARGV, 11))
redis.call('HSETEX', KEYS[1], 'PX', ARGV[4], 'FIELDS', 1, 'resp', ARGV[5])
if ARGV[9] ~= '0' then
  redis.call('HSETEX', KEYS[1], 'PX', ARGV[4] + ARGV[9], 'FIELDS', 1, 'stale', ARGV[5])
else
  redis.call('HDEL', KEYS[1], 'stale')
end
if ARGV[6] ~= '' then
  redis.call('VADD', KEYS[2], 'FP32', ARGV[6], ARGV[1], ARGV[10], 'SETATTR', ARGV[7])
  redis.call('SREM', KEYS[3], ARGV[1])
elseif redis.call('VISMEMBER', KEYS[2], ARGV[1]) == 0 then
  redis.call('SADD', KEYS[3], ARGV[1])
end
redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
"""

# KEYS: hash, its scope's vector set and exact-only set. ARGV: element, the scope they are of. Returns the
# entries removed, or the entry's scope when it is another (it moved since the caller read it).
DELETE = """
local scope = redis.call('HGET', KEYS[1], 'scope')
if scope and scope ~= ARGV[2] then return {scope} end
if scope then
  redis.call('VREM', KEYS[2], ARGV[1])
  redis.call('SREM', KEYS[3], ARGV[1])
end
return redis.call('DEL', KEYS[1])
"""

# One page of a scope's removal, atomic so a concurrent write is either removed or kept whole; a scope found
# empty leaves the registry in the same step. Returns entries removed, or -1 once the scope is gone.
# KEYS: scope vector set, scope exact-only set, scope registry, the members' hashes. ARGV: scope, members...
DROP_PAGE = """
if #ARGV == 1 then
  if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
  redis.call('HDEL', KEYS[3], ARGV[1])
  return -1
end
local removed = 0
for index = 2, #ARGV do
  redis.call('VREM', KEYS[1], ARGV[index])
  redis.call('SREM', KEYS[2], ARGV[index])
  removed = removed + redis.call('DEL', KEYS[index + 2])
end
return removed
"""
