/**
 * The Lua scripts that make the Redis backplane correct across servers. Each runs atomically in
 * Redis, so dedupe + seq + history + routing of one signal can never interleave with another
 * server's publish, attach or reaper. Times come from Redis' own clock (TIME), never a server's,
 * so servers with skewed clocks agree on deadlines.
 *
 * Numbers that end up in keys, ids or values go through `int()` (string.format %d): Lua's default
 * number formatting switches to exponent notation above 1e14, which would corrupt a stream id.
 */
import { createHash } from 'node:crypto';
import type Redis from 'ioredis';
import { RECORD_OVERHEAD_BYTES } from '../budget';

const PRELUDE = `
local function int(n) return string.format('%d', n) end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function seq_of(id) return tonumber(string.match(id, '^(%d+)-')) end
local function field(fields, name)
  for i = 1, #fields, 2 do if fields[i] == name then return fields[i + 1] end end
  return nil
end
-- n-th space separated word of a server-peers value "kind epoch since"
local function word(s, n)
  local i = 0
  for w in string.gmatch(s, '%S+') do
    i = i + 1
    if i == n then return w end
  end
  return nil
end
-- Drop history entries older than min_ts (entries are in seq order and their ts never decreases).
local function trim_age(key, min_ts)
  local first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)
  if not first[1] or tonumber(field(first[1][2], 't')) >= min_ts then return end
  for _ = 1, 1000 do
    local batch = redis.call('XRANGE', key, '-', '+', 'COUNT', 64)
    if not batch[1] then return end
    for _, e in ipairs(batch) do
      if tonumber(field(e[2], 't')) >= min_ts then
        redis.call('XTRIM', key, 'MINID', e[1])
        return
      end
    end
    redis.call('XTRIM', key, 'MINID', int(seq_of(batch[#batch][1]) + 1) .. '-0')
  end
end
-- The newest seq, never below what the history already holds (guards a lost or edited counter).
local function last_seq(seq_key, hist_key)
  local last = tonumber(redis.call('GET', seq_key) or '0')
  local top = redis.call('XREVRANGE', hist_key, '+', '-', 'COUNT', 1)
  if top[1] and seq_of(top[1][1]) > last then
    last = seq_of(top[1][1])
    redis.call('SET', seq_key, int(last), 'KEEPTTL')
  end
  return last
end
local function emit(prefix, ev) redis.call('PUBLISH', prefix .. 'presence', cjson.encode(ev)) end
-- Per-recipient byte budget of a history stream. Every entry carries 'b', the bytes the stream held
-- before it (a running offset), and 'z', its own size (budget.ts historyEntryBytes), so the stream
-- holds b + z of its newest entry minus b of its oldest. Drops the oldest while that exceeds max.
local function entry_bytes(from, id, data) return #data + #from + #id + ${RECORD_OVERHEAD_BYTES} end
local function trim_bytes(key, held_end, max_bytes, bound)
  for _ = 1, bound do
    local first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)
    if not first[1] then return end
    local b = tonumber(field(first[1][2], 'b') or '')
    -- An entry written before byte accounting: count and age trimming still bound it.
    if not b or held_end - b <= max_bytes then return end
    redis.call('XTRIM', key, 'MINID', int(seq_of(first[1][1]) + 1) .. '-0')
  end
end
`;

/**
 * publish. KEYS: dedupe, peer(to), seq(to), hist(to), servers, redis, quota(to).
 * ARGV: prefix, to, from, id, data(JSON), replyTo, reqId, dedupeMs, maxLen, maxAgeMs, inboxMaxLen, rebuildMs,
 * maxBytes (per-recipient history bytes), then the sender's policy for this target
 * (app/auth/policy.ts TargetCheck): absent ('unknown' | 'forbidden'), refuseKind ('' = any kind),
 * groups ('*' = no group condition, else ',g1,g2,'); then the recipient quota (budget.ts
 * RecipientQuota): signals/s, bytes/s, the sender's entries (senderHistoryBound), busy retry ms, the
 * sender's bytes (senderHistoryBound).
 * -> {'duplicate', seq} | {'unknown'} | {'forbidden'} | {'busy', retryMs, why} | {'recovering'} | {'stored', seq} | {'routed', seq, ownerServerId}
 */
const PUBLISH = `
local P = ARGV[1]
local now = now_ms()
-- Right after a new Redis process appeared (restart, failover), until every live server has
-- renewed and restored its peers: presence may be incomplete ("not found" = "not known yet") and
-- a seq counter may be behind what a peer already has (its owner raises it). Refuse for now.
local since = tonumber(redis.call('HGET', KEYS[6], 'since') or '0')
if since == 0 or now - since < tonumber(ARGV[12]) then return {'recovering'} end
local dup = redis.call('GET', KEYS[1])
if dup then return {'duplicate', tonumber(dup)} end
-- An absent target answers like a refused one wherever the policy could refuse it (no presence oracle).
local function unknown() return {ARGV[14]} end
local rec = redis.call('HMGET', KEYS[2], 'srv', 'epoch', 'state', 'awayUntil', 'kind', 'grp', 'awayFrom')
local srv, epoch, state = rec[1], rec[2], rec[3]
if not srv then return unknown() end
-- Signalling policy: the target's kind and groups come from its own record (its token, at attach),
-- never from the sender. Mirrors policy.ts targetPermitted.
if ARGV[15] ~= '' and rec[5] == ARGV[15] then return {'forbidden'} end
if ARGV[16] ~= '*' then
  local ok = false
  for g in string.gmatch(rec[6] or '', '[^,]+') do
    if string.find(ARGV[16], ',' .. g .. ',', 1, true) then ok = true break end
  end
  if not ok then return {'forbidden'} end
end
if state == 'online' then
  -- An owner whose liveness deadline passed is dead: its peers are offline (the reaper tidies up).
  local deadline = redis.call('ZSCORE', KEYS[5], srv)
  if not deadline or tonumber(deadline) < now then return unknown() end
elseif state ~= 'away' then
  return unknown()
end
local size = entry_bytes(ARGV[3], ARGV[4], ARGV[5])
local function held_end()
  local t = redis.call('XREVRANGE', KEYS[4], '+', '-', 'COUNT', 1)
  if not t[1] then return 0 end
  return (tonumber(field(t[1][2], 'b') or '0') or 0) + (tonumber(field(t[1][2], 'z') or '0') or 0)
end
-- Inbound quota of the recipient, shared by every server (mirrors app/backplane/quota.ts): token
-- buckets of one second of signals and bytes in KEYS[7]; over them the SENDER is refused with a
-- retry hint and nothing already accepted is touched.
local rs, rb = tonumber(ARGV[17]), tonumber(ARGV[18])
local qv = redis.call('HMGET', KEYS[7], 's', 'b', 'at', 'away')
local dt = math.max(0, now - tonumber(qv[3] or now))
local qs = math.min(rs, tonumber(qv[1] or rs) + dt * rs / 1000)
local qb = math.min(rb, tonumber(qv[2] or rb) + dt * rb / 1000)
if qs < 1 or qb < size then
  local w = 0
  if qs < 1 then w = (1 - qs) * 1000 / rs end
  if qb < size then w = math.max(w, (size - qb) * 1000 / rb) end
  return {'busy', int(math.max(1, math.ceil(w))), 'rate'}
end
if state == 'away' then
  -- Fair history while the recipient is away: a sender holds at most its share of the entries
  -- accepted since it went away (n:<from>, z:<from>, reset per away period), and room is made only
  -- by dropping entries from before it went away (seq <= awayFrom): never an accepted one.
  if qv[4] ~= rec[4] then redis.call('DEL', KEYS[7]) end
  local n = tonumber(redis.call('HGET', KEYS[7], 'n:' .. ARGV[3]) or '0') + 1
  local z = tonumber(redis.call('HGET', KEYS[7], 'z:' .. ARGV[3]) or '0') + size
  if n > tonumber(ARGV[19]) or z > tonumber(ARGV[21]) then return {'busy', ARGV[20], 'share'} end
  trim_age(KEYS[4], now - tonumber(ARGV[10]))
  local len, e = redis.call('XLEN', KEYS[4]), held_end()
  for _ = 0, len do
    local first = redis.call('XRANGE', KEYS[4], '-', '+', 'COUNT', 1)
    if not first[1] then break end
    local held = e - (tonumber(field(first[1][2], 'b') or '') or e)
    if len + 1 <= tonumber(ARGV[9]) and held + size <= tonumber(ARGV[13]) then break end
    if seq_of(first[1][1]) > tonumber(rec[7] or '0') then return {'busy', ARGV[20], 'full'} end
    redis.call('XTRIM', KEYS[4], 'MINID', int(seq_of(first[1][1]) + 1) .. '-0')
    len = len - 1
  end
  redis.call('HINCRBY', KEYS[7], 'n:' .. ARGV[3], 1)
  redis.call('HINCRBY', KEYS[7], 'z:' .. ARGV[3], size)
  redis.call('HSET', KEYS[7], 'away', rec[4])
end
redis.call('HSET', KEYS[7], 's', tostring(qs - 1), 'b', tostring(qb - size), 'at', int(now))
redis.call('PEXPIRE', KEYS[7], ARGV[10])
local seq = last_seq(KEYS[3], KEYS[4]) + 1
redis.call('SET', KEYS[3], int(seq), 'KEEPTTL')
local offset = held_end()
redis.call('XADD', KEYS[4], 'MAXLEN', ARGV[9], int(seq) .. '-0', 'f', ARGV[3], 'i', ARGV[4], 'd', ARGV[5], 't', int(now),
  'b', int(offset), 'z', int(size))
trim_age(KEYS[4], now - tonumber(ARGV[10]))
trim_bytes(KEYS[4], offset + size, tonumber(ARGV[13]), tonumber(ARGV[9]) + 1)
redis.call('SET', KEYS[1], int(seq), 'PX', ARGV[8])
if state == 'away' then
  -- Keep numbering and history until the grace ends plus the history age (the detach set the same).
  local keep = int(tonumber(rec[4]) + tonumber(ARGV[10]))
  redis.call('PEXPIREAT', KEYS[3], keep)
  redis.call('PEXPIREAT', KEYS[4], keep)
  return {'stored', seq}
end
redis.call('XADD', P .. 'srv:' .. srv .. ':inbox', 'MAXLEN', '~', ARGV[11], '*',
  'k', 'deliver', 'p', ARGV[2], 'e', epoch, 's', int(seq), 'f', ARGV[3], 'i', ARGV[4], 'd', ARGV[5],
  't', int(now), 'r', ARGV[6], 'q', ARGV[7])
return {'routed', seq, srv}
`;

/**
 * replay. KEYS: seq, hist. ARGV: afterSeq ('' = none), maxAgeMs, count.
 * -> {last} | {last, 'seq_reset'} | {last, 'ok', oldestSeq, entries (at most count, from afterSeq + 1)}
 * Paged: a reply never carries the whole history (1000 entries of 64 KiB would be one 64 MB reply).
 */
const REPLAY = `
local now = now_ms()
trim_age(KEYS[2], now - tonumber(ARGV[2]))
local last = last_seq(KEYS[1], KEYS[2])
if ARGV[1] == '' then return {last} end
local after = tonumber(ARGV[1])
if after > last then
  -- The peer claims more than Redis knows (state lost, or a forged last_seq): clamp. The server
  -- reports a seq_reset gap with Redis' own last seq and the peer continues from there (the SDK
  -- adopts it). The counter is never raised to a peer's claim: a forged 2^53 would otherwise make
  -- later seqs lose precision and be skipped as "already sent" while senders hear 'delivered'.
  return {last, 'seq_reset'}
end
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local oldest = last + 1
if first[1] then oldest = seq_of(first[1][1]) end
return {last, 'ok', oldest, redis.call('XRANGE', KEYS[2], int(after + 1) .. '-0', '+', 'COUNT', tonumber(ARGV[3]))}
`;

/**
 * attach. KEYS: peer, serverPeers(me), seq, hist, away, servers, epoch.
 * ARGV: prefix, peerId, kind, me, inboxMaxLen, groups (',g1,g2,' or ''). -> {'ok', epoch, since} | {'unregistered'}
 */
const ATTACH = `
local P, peer, kind, me = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now = now_ms()
if not redis.call('ZSCORE', KEYS[6], me) then return {'unregistered'} end
local epoch = redis.call('INCR', KEYS[7])
local old = redis.call('HMGET', KEYS[1], 'srv', 'epoch', 'state')
redis.call('DEL', KEYS[1])
-- kind and grp: what the signalling policy reads (publish), from this peer's own token.
redis.call('HSET', KEYS[1], 'srv', me, 'epoch', int(epoch), 'kind', kind, 'grp', ARGV[6], 'state', 'online', 'since', int(now))
redis.call('HSET', KEYS[2], peer, kind .. ' ' .. int(epoch) .. ' ' .. int(now))
redis.call('ZREM', KEYS[5], peer)
-- An online peer keeps its numbering and history (bounded by MAXLEN and age) for as long as it stays.
redis.call('PERSIST', KEYS[3])
redis.call('PERSIST', KEYS[4])
if old[1] and old[1] ~= me and old[3] == 'online' then
  -- The newest attachment wins: tell the old owner (through its ordered inbox) to drop its socket.
  local theirs = P .. 'srv:' .. old[1] .. ':peers'
  local v = redis.call('HGET', theirs, peer)
  if v and word(v, 2) == old[2] then redis.call('HDEL', theirs, peer) end
  redis.call('XADD', P .. 'srv:' .. old[1] .. ':inbox', 'MAXLEN', '~', ARGV[5], '*', 'k', 'evict', 'p', peer, 'e', old[2])
end
emit(P, {type = 'online', entry = {peerId = peer, kind = kind, serverId = me, state = 'online', since = now}})
return {'ok', epoch, now}
`;

/**
 * detach. KEYS: peer, serverPeers(me), seq, hist, away. ARGV: prefix, peerId, me, epoch, graceMs, maxAgeMs.
 * -> 1 when the peer turned away, 0 when another attachment owns it (nothing to do).
 */
const DETACH = `
local P, peer, me, epoch = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local v = redis.call('HGET', KEYS[2], peer)
if v and word(v, 2) == epoch then redis.call('HDEL', KEYS[2], peer) end
local rec = redis.call('HMGET', KEYS[1], 'srv', 'epoch', 'state', 'kind')
if rec[1] ~= me or rec[2] ~= epoch or rec[3] ~= 'online' then return 0 end
local now = now_ms()
local away_until = now + tonumber(ARGV[5])
-- awayFrom: the last seq before the away period; the publish script's fair history drops only
-- entries up to it to make room (quota.ts).
redis.call('HSET', KEYS[1], 'state', 'away', 'since', int(now), 'awayUntil', int(away_until), 'awayFrom', int(last_seq(KEYS[3], KEYS[4])))
redis.call('PEXPIREAT', KEYS[1], int(away_until))
redis.call('ZADD', KEYS[5], int(away_until), peer)
local keep = int(away_until + tonumber(ARGV[6]))
redis.call('PEXPIREAT', KEYS[3], keep)
redis.call('PEXPIREAT', KEYS[4], keep)
emit(P, {type = 'away', entry = {peerId = peer, kind = rec[4], serverId = me, state = 'away', since = now, awayUntil = away_until}})
return 1
`;

/**
 * mark. KEYS: redis, servers. ARGV: runid (INFO server), ttlMs. Records when a new Redis process (a
 * restart) was first seen. -> 1 when this is a new Redis process, 0 otherwise.
 *
 * Liveness deadlines loaded from an AOF or RDB file were set before the outage: after an outage
 * longer than the TTL every one of them has passed, though the servers are alive and reconnecting.
 * Each server known to the new process gets a fresh TTL from now to prove it is alive (renew).
 * Without this, a server that reconnected a little later than another was reaped, or its peers
 * answered unknown_peer, the moment the recovery window ended. A server that died during the
 * outage is reaped one TTL after the restart instead: the presence bound still holds from then.
 */
const MARK = `
if redis.call('HGET', KEYS[1], 'runid') == ARGV[1] then return 0 end
local now = now_ms()
redis.call('HSET', KEYS[1], 'runid', ARGV[1], 'since', int(now))
local fresh = now + tonumber(ARGV[2])
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. int(fresh))) do
  redis.call('ZADD', KEYS[2], int(fresh), s)
end
return 1
`;

/**
 * renew. KEYS: servers, claim(me). ARGV: me, ttlMs, instance token.
 * -> 1 if still registered, 0 if it had been reaped or lost, -1 if another process holds the id.
 *
 * The claim (STRING instance token, PX ttlMs) makes a server id belong to one process: two
 * servers with one id would share an inbox and a peer set. A claim that expired (Redis restarted
 * without it, or this server was cut off for a whole TTL) is taken again unless someone else
 * took it meanwhile.
 */
const RENEW = `
local cur = redis.call('GET', KEYS[2])
if cur and cur ~= ARGV[3] then return -1 end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
local now = now_ms()
local had = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], int(now + tonumber(ARGV[2])), ARGV[1])
if had then return 1 end
return 0
`;

/**
 * claim. KEYS: claim(me). ARGV: instance token, ttlMs. First claim of a starting server.
 * -> {'ok'} | {'held', pttl}: another process holds the id (live if it renews before pttl runs out).
 */
const CLAIM = `
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return {'held', redis.call('PTTL', KEYS[1])} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {'ok'}
`;

/**
 * reap. KEYS: servers, away. ARGV: prefix, me, maxAgeMs, limit, reapExpiredServers ('1'|'0'), forceServer ('' | id).
 * Dead servers' peers go offline; away peers past their grace go offline. ZREM is the claim, so
 * every server may run this and each event is published once.
 * -> {peersGone, msUntilNextDue (-1: nothing pending)}
 */
const REAP = `
local P, me = ARGV[1], ARGV[2]
local now = now_ms()
local gone = 0
local keep = int(now + tonumber(ARGV[3]))
local function offline(p)
  emit(P, {type = 'offline', peerId = p})
  gone = gone + 1
end
local function reap_server(s)
  redis.call('ZREM', KEYS[1], s)
  local pk = P .. 'srv:' .. s .. ':peers'
  local all = redis.call('HGETALL', pk)
  for i = 1, #all, 2 do
    local p = all[i]
    local key = P .. 'peer:' .. p
    local rec = redis.call('HMGET', key, 'srv', 'epoch')
    if rec[1] == s and rec[2] == word(all[i + 1], 2) then
      redis.call('DEL', key)
      -- Offline now, but what was stored stays replayable for the history age.
      redis.call('PEXPIREAT', P .. 'seq:' .. p, keep)
      redis.call('PEXPIREAT', P .. 'hist:' .. p, keep)
      offline(p)
    end
  end
  redis.call('DEL', pk, P .. 'srv:' .. s .. ':inbox')
end
if ARGV[6] ~= '' then reap_server(ARGV[6]) end
if ARGV[5] == '1' then
  for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. int(now), 'LIMIT', 0, tonumber(ARGV[4]))) do
    if s ~= me then reap_server(s) end
  end
end
for _, p in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', int(now), 'LIMIT', 0, tonumber(ARGV[4]))) do
  redis.call('ZREM', KEYS[2], p)
  local key = P .. 'peer:' .. p
  local rec = redis.call('HMGET', key, 'state', 'awayUntil')
  if not rec[1] or (rec[1] == 'away' and tonumber(rec[2]) <= now) then
    redis.call('DEL', key)
    offline(p)
  end
end
local nxt = -1
local srv = redis.call('ZRANGE', KEYS[1], 0, 1, 'WITHSCORES')
for i = 1, #srv, 2 do
  if srv[i] ~= me then
    nxt = tonumber(srv[i + 1]) - now
    break
  end
end
local aw = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if aw[1] then
  local d = tonumber(aw[2]) - now
  if nxt < 0 or d < nxt then nxt = d end
end
return {gone, int(nxt)}
`;

/** presence. KEYS: servers, away. ARGV: prefix. -> rows {peerId, kind, serverId, state, since[, awayUntil]} */
const PRESENCE = `
local P = ARGV[1]
local now = now_ms()
local out = {}
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], int(now), '+inf')) do
  local all = redis.call('HGETALL', P .. 'srv:' .. s .. ':peers')
  for i = 1, #all, 2 do
    out[#out + 1] = {all[i], word(all[i + 1], 1), s, 'online', word(all[i + 1], 3)}
  end
end
for _, p in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. int(now), '+inf')) do
  local rec = redis.call('HMGET', P .. 'peer:' .. p, 'kind', 'srv', 'state', 'since', 'awayUntil')
  if rec[3] == 'away' then out[#out + 1] = {p, rec[1], rec[2], 'away', rec[4], rec[5]} end
end
return out
`;

/**
 * restore: re-register a peer this server still holds after Redis forgot it (reaped while
 * partitioned, or restarted without persistence). KEYS: peer, serverPeers(me), seq, hist, away, epoch.
 * ARGV: prefix, peerId, kind, me, epoch, since, floorSeq, groups. -> 'ok' | 'moved' (a newer attachment exists)
 */
const RESTORE = `
local P, peer, kind, me, epoch = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local rec = redis.call('HMGET', KEYS[1], 'srv', 'epoch', 'state')
if rec[1] and not (rec[1] == me and rec[2] == epoch) then return 'moved' end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'srv', me, 'epoch', epoch, 'kind', kind, 'grp', ARGV[8], 'state', 'online', 'since', ARGV[6])
redis.call('HSET', KEYS[2], peer, kind .. ' ' .. epoch .. ' ' .. ARGV[6])
redis.call('ZREM', KEYS[5], peer)
redis.call('PERSIST', KEYS[3])
redis.call('PERSIST', KEYS[4])
if tonumber(redis.call('GET', KEYS[6]) or '0') < tonumber(epoch) then redis.call('SET', KEYS[6], epoch) end
-- Numbering must continue above what the peer has already been given, or new signals would be
-- taken for old ones.
if last_seq(KEYS[3], KEYS[4]) < tonumber(ARGV[7]) then redis.call('SET', KEYS[3], ARGV[7]) end
if rec[3] ~= 'online' then
  emit(P, {type = 'online', entry = {peerId = peer, kind = kind, serverId = me, state = 'online', since = tonumber(ARGV[6])}})
end
return 'ok'
`;

/** One Lua script: EVALSHA, falling back to EVAL after a Redis restart emptied the script cache. */
export class LuaScript {
  readonly sha: string;
  readonly source: string;
  constructor(
    readonly name: string,
    body: string,
  ) {
    this.source = PRELUDE + body;
    this.sha = createHash('sha1').update(this.source).digest('hex');
  }

  async run(redis: Redis, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

export const scripts = {
  publish: new LuaScript('publish', PUBLISH),
  replay: new LuaScript('replay', REPLAY),
  attach: new LuaScript('attach', ATTACH),
  detach: new LuaScript('detach', DETACH),
  mark: new LuaScript('mark', MARK),
  renew: new LuaScript('renew', RENEW),
  claim: new LuaScript('claim', CLAIM),
  reap: new LuaScript('reap', REAP),
  presence: new LuaScript('presence', PRESENCE),
  restore: new LuaScript('restore', RESTORE),
};
