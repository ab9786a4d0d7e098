/**
 * Lua scripts, each touching only the keys of ONE AOR (one hash slot: Redis Cluster
 * safe). Bindings are stored as JSON written by TypeScript; the scripts decode them
 * (cjson.decode) to read expiry and ordering fields but never re-encode them — cjson
 * would turn `path: []` into `{}` and round numbers to 14 digits — so what Redis holds
 * is byte-for-byte what the store wrote. Reachability lives in a sibling field
 * `r:<key>` so marking a flow failed rewrites a tiny JSON built here by concatenation.
 */

/**
 * REGISTER: expiry on read, RFC 3261 §10.3 step 7 ordering, `*` removal, changes,
 * max contacts, write back with TTLs, return the current bindings. One call per REGISTER.
 *
 * KEYS[1] bindings hash, KEYS[2] meta hash
 * ARGV: callId, cseq, now, removeAll(0|1), maxContacts, graceMs, knownForMs, nChanges,
 *       then per change: key, expiresAt (0 = remove), binding JSON without
 *       registeredAt (appended here: only the store knows when the key was first seen),
 *       reachability JSON; then optionally purgeLimit (max expired bindings to purge,
 *       default all: the sweep's budget)
 * Returns {"out-of-order", key} | {"too-many-contacts", count} |
 *   {"ok", changed(0|1), nextExpiry, nRemoved, removedJson..., routingChanged(0|1),
 *    nIndex, indexKey..., (bindingJson, reachJson)...}
 * where removedJson are expired, deleted and replaced-with-a-flow versions (index trimming).
 *
 * Pure refreshes (the common REGISTER): the binding JSON puts its volatile fields (callId,
 * cseq, expiresAt, updatedAt, then registeredAt and idxUntil appended here) after every
 * routing field, so "same routing values" is one comparison of the text before `,"callId":`
 * (JSON.stringify escapes quotes inside values, so that marker cannot occur earlier). A pure
 * refresh of a reachable binding is not a routing change, and its flow/edge index entries
 * need no write while `idxUntil` — the time the last index write covers, expiry + grace +
 * one more registration interval of slack — still covers the new expiry + grace. indexKey
 * lists the bindings whose indexes the caller must (re)write.
 * A pure fetch (no changes, not removeAll) writes only if it expired something: it
 * doubles as the per-AOR step of the background sweep.
 */
export const REGISTER_LUA = `
local bkey, mkey = KEYS[1], KEYS[2]
local callId = ARGV[1]
local cseq = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local removeAll = ARGV[4] == '1'
local maxContacts = tonumber(ARGV[5])
local graceMs = tonumber(ARGV[6])
local knownForMs = tonumber(ARGV[7])
local n = tonumber(ARGV[8])

local cur = {}
local all = redis.call('HGETALL', bkey)
for i = 1, #all, 2 do
  local f, v = all[i], all[i + 1]
  local kind, key = string.sub(f, 1, 2), string.sub(f, 3)
  local e = cur[key]
  if e == nil then e = {}; cur[key] = e end
  if kind == 'b:' then e.json = v; e.b = cjson.decode(v) else e.r = v end
end

local removed, dels, expired = {}, {}, {}
local count, hadAny = 0, false
for key, e in pairs(cur) do
  if e.b == nil then
    dels[#dels + 1] = 'r:' .. key
    cur[key] = nil
  elseif e.b.expiresAt <= now then
    expired[#expired + 1] = { key = key, e = e }
    cur[key] = nil
  else
    count = count + 1
    hadAny = true
  end
end
-- Purge expired bindings, oldest first, at most purgeLimit of them (the sweep's budget);
-- any left over stay stored (invisible: expired) and keep the AOR due for the next sweep.
local purgeLimit = tonumber(ARGV[9 + n * 4] or '') or #expired
table.sort(expired, function(a, b) return a.e.b.expiresAt < b.e.b.expiresAt end)
local leftover = 0
for i = 1, #expired do
  local x = expired[i]
  if i <= purgeLimit then
    removed[#removed + 1] = x.e.json
    dels[#dels + 1] = 'b:' .. x.key
    dels[#dels + 1] = 'r:' .. x.key
  elseif leftover == 0 then
    leftover = x.e.b.expiresAt
  end
end

-- RFC 3261 §10.3 step 7: same Call-ID and CSeq not higher -> the whole request fails.
local function stale(e) return e.b.callId == callId and e.b.cseq >= cseq end
if removeAll then
  for key, e in pairs(cur) do
    if stale(e) then return {'out-of-order', key} end
  end
end
-- Same rule as planRegister: a request whose every change finds its binding written by this
-- very Call-ID and CSeq is a retransmission that reached another worker (ring change): write
-- nothing and answer the current bindings (n = 0 turns the rest into a fetch).
local dupKey, fresh = nil, false
for i = 0, n - 1 do
  local key = ARGV[9 + i * 4]
  local e = cur[key]
  if e ~= nil and e.b.callId == callId then
    if e.b.cseq > cseq then return {'out-of-order', key} end
    if e.b.cseq == cseq then dupKey = key else fresh = true end
  elseif e ~= nil or tonumber(ARGV[10 + i * 4]) ~= 0 then
    fresh = true
  end
end
if dupKey ~= nil then
  if fresh then return {'out-of-order', dupKey} end
  n = 0
end

local before = count
local changed, routing = false, false
local needIndex = {}
-- The routing part of a binding JSON: everything before the volatile tail.
local function routingPart(json)
  local p = string.find(json, ',"callId":', 1, true)
  if p == nil then return json end
  return string.sub(json, 1, p)
end
if removeAll then
  for key, e in pairs(cur) do
    removed[#removed + 1] = e.json
    dels[#dels + 1] = 'b:' .. key
    dels[#dels + 1] = 'r:' .. key
    cur[key] = nil
    changed = true
    routing = true
  end
  count = 0
end
local sets = {}
for i = 0, n - 1 do
  local base = 9 + i * 4
  local key, exp = ARGV[base], tonumber(ARGV[base + 1])
  local e = cur[key]
  if exp == 0 then
    if e ~= nil then
      removed[#removed + 1] = e.json
      dels[#dels + 1] = 'b:' .. key
      dels[#dels + 1] = 'r:' .. key
      cur[key] = nil
      count = count - 1
      changed = true
      routing = true
    end
  else
    local reg = now
    local json = ARGV[base + 2]
    local idx = nil
    if e ~= nil then
      reg = e.b.registeredAt
      local pure = e.json ~= nil and (e.r == nil or e.r == '' or string.sub(e.r, 1, 17) == '{"reachable":true')
        and routingPart(e.json) == routingPart(json)
      if pure then
        local covered = tonumber(e.b.idxUntil)
        if covered ~= nil and exp + graceMs <= covered then idx = covered end
      else
        routing = true
        -- the replaced version goes back too: its flow/edge may need trimming from the indexes
        if e.json ~= nil and (e.b.flowToken ~= nil or e.b.edge ~= nil) then removed[#removed + 1] = e.json end
      end
    else
      count = count + 1
      routing = true
    end
    if idx == nil then
      idx = exp + graceMs + math.max(exp - now, 0)
      needIndex[#needIndex + 1] = key
    end
    json = string.sub(json, 1, -2) .. ',"registeredAt":' .. string.format('%.0f', reg) .. ',"idxUntil":' .. string.format('%.0f', idx) .. '}'
    cur[key] = { json = json, r = ARGV[base + 3], b = { expiresAt = exp } }
    sets[#sets + 1] = 'b:' .. key
    sets[#sets + 1] = json
    sets[#sets + 1] = 'r:' .. key
    sets[#sets + 1] = ARGV[base + 3]
    changed = true
  end
end

if count > maxContacts and count > before then
  return {'too-many-contacts', tostring(count)}
end

local out = {}
local maxExp, minExp = 0, 0
for key, e in pairs(cur) do
  local x = e.b.expiresAt
  if x > maxExp then maxExp = x end
  if minExp == 0 or x < minExp then minExp = x end
  out[#out + 1] = e.json
  out[#out + 1] = e.r or ''
end
if leftover > 0 and (minExp == 0 or leftover < minExp) then minExp = leftover end

if #dels > 0 or #sets > 0 then
  if #dels > 0 then redis.call('HDEL', bkey, unpack(dels)) end
  if #sets > 0 then redis.call('HSET', bkey, unpack(sets)) end
  if count > 0 then redis.call('PEXPIRE', bkey, math.floor(maxExp - now + graceMs)) end
  -- "until": the last moment the AOR had a binding; lets lookup answer 480 vs 404.
  local untilMs = tonumber(redis.call('HGET', mkey, 'until') or '0')
  if untilMs > now then untilMs = now end
  if hadAny and now > untilMs then untilMs = now end
  if maxExp > untilMs then untilMs = maxExp end
  if untilMs > 0 and untilMs + knownForMs > now then
    redis.call('HSET', mkey, 'until', string.format('%.0f', untilMs))
    redis.call('PEXPIRE', mkey, math.floor(untilMs + knownForMs - now))
  end
end

local reply = {'ok', changed and 1 or 0, string.format('%.0f', minExp), #removed}
for i = 1, #removed do reply[#reply + 1] = removed[i] end
reply[#reply + 1] = routing and 1 or 0
reply[#reply + 1] = #needIndex
for i = 1, #needIndex do reply[#reply + 1] = needIndex[i] end
for i = 1, #out do reply[#reply + 1] = out[i] end
return reply
`;

/**
 * Shared prelude of the reachability scripts: calls visit(key, b, reachable, reason, lastSeen)
 * for every unexpired binding in the bindings hash KEYS[1], with its `r:` reachability decoded
 * (absent = reachable since its last update).
 */
const EACH_LIVE_BINDING_LUA = `
local function eachLiveBinding(now, visit)
  local all = redis.call('HGETALL', KEYS[1])
  local reach = {}
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 'r:' then reach[string.sub(all[i], 3)] = all[i + 1] end
  end
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 'b:' then
      local key = string.sub(all[i], 3)
      local b = cjson.decode(all[i + 1])
      if b.expiresAt > now then
        local lastSeen, reachable, reason = b.updatedAt, true, nil
        local r = reach[key]
        if r ~= nil and r ~= '' then
          local ok, d = pcall(cjson.decode, r)
          if ok then
            if type(d.lastSeen) == 'number' then lastSeen = d.lastSeen end
            if d.reachable == false then reachable = false end
            if type(d.reason) == 'string' then reason = d.reason end
          end
        end
        visit(key, b, reachable, reason, lastSeen)
      end
    end
  end
end
`;

/**
 * Marks unreachable the unexpired bindings of one AOR whose binding JSON has field
 * ARGV[1] equal to ARGV[2] (flow token or edge). RFC 5626 §5.3: a failed flow makes its
 * bindings unusable at once. A binding already unreachable keeps its first reason and
 * its lastSeen (the last time it was known alive).
 * KEYS[1] bindings hash; ARGV: field, value, reason, now.
 * Returns {flipped, matched}: matched = 0 means the AOR can leave the index.
 */
export const MARK_UNREACHABLE_LUA = `${EACH_LIVE_BINDING_LUA}
local field, value, reason, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local matched, flipped, sets = 0, 0, {}
eachLiveBinding(now, function(key, b, reachable, _, lastSeen)
  if b[field] ~= value then return end
  matched = matched + 1
  if reachable then
    flipped = flipped + 1
    sets[#sets + 1] = 'r:' .. key
    sets[#sets + 1] = '{"reachable":false,"reason":' .. cjson.encode(reason) .. ',"lastSeen":' .. string.format('%.0f', lastSeen) .. '}'
  end
end)
if #sets > 0 then redis.call('HSET', KEYS[1], unpack(sets)) end
return {flipped, matched}
`;

/**
 * BindingStore.edgeRestarted for one AOR (the rule of @edgepath/bindings edgeRestartChange):
 * connection flows on the edge refreshed before the new process started -> unreachable
 * "edge-restarted"; UDP bindings on it marked "edge-down" -> reachable, lastSeen kept.
 * KEYS[1] bindings hash; ARGV: edge, startedAt, now. Returns {changed, matched}: matched = 0
 * means nothing of this AOR is on that edge any more (a stale index entry to trim).
 */
export const EDGE_RESTARTED_LUA = `${EACH_LIVE_BINDING_LUA}
local edge, startedAt, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local matched, changed, sets = 0, 0, {}
eachLiveBinding(now, function(key, b, reachable, reason, lastSeen)
  if b.edge ~= edge then return end
  matched = matched + 1
  local ls = string.format('%.0f', lastSeen)
  if b.transport == 'udp' then
    if not reachable and reason == 'edge-down' then
      changed = changed + 1
      sets[#sets + 1] = 'r:' .. key
      sets[#sets + 1] = '{"reachable":true,"lastSeen":' .. ls .. '}'
    end
  elseif type(b.transport) == 'string' and reachable and b.updatedAt < startedAt then
    changed = changed + 1
    sets[#sets + 1] = 'r:' .. key
    sets[#sets + 1] = '{"reachable":false,"reason":"edge-restarted","lastSeen":' .. ls .. '}'
  end
end)
if #sets > 0 then redis.call('HSET', KEYS[1], unpack(sets)) end
return {changed, matched}
`;

/**
 * Marks one binding reachable again (keepalive answered, flow re-established).
 * KEYS[1] bindings hash; ARGV: key, now. Returns 1 if the binding exists and is unexpired.
 */
export const MARK_REACHABLE_LUA = `
local v = redis.call('HGET', KEYS[1], 'b:' .. ARGV[1])
if not v then return 0 end
local b = cjson.decode(v)
if b.expiresAt <= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'r:' .. ARGV[1], '{"reachable":true,"lastSeen":' .. ARGV[2] .. '}')
return 1
`;

/**
 * Sweep bookkeeping on the expiry ZSET (one key): compare-and-set so a REGISTER that
 * moved the AOR's next expiry in the meantime is not undone by a stale sweep.
 * KEYS[1] expiry zset; ARGV: aor, scoreSeen, nextExpiry (0 = none). Returns 1 if applied.
 */
export const EXPIRY_CAS_LUA = `
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '0' then redis.call('ZREM', KEYS[1], ARGV[1]) else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
return 1
`;

/**
 * Adds an AOR to one index set (flow token -> AORs, edge -> AORs) and keeps the set's TTL
 * covering it: one key, so Cluster-safe, and one command instead of SADD + PEXPIRE NX +
 * PEXPIRE GT on the REGISTER hot path (Redis >= 7.0 for the NX/GT flags).
 * KEYS[1] index set; ARGV: aor, ttlMs. NX gives a fresh set a TTL; GT only ever extends it
 * (other AORs share the set). Returns the SADD count.
 */
export const INDEX_ADD_LUA = `
local added = redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2], 'NX')
redis.call('PEXPIRE', KEYS[1], ARGV[2], 'GT')
return added
`;
