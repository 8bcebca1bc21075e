/**
 * The scripts of attachments and presence: attach, detach, restore (one peer's keys plus its
 * bucket's copies), beat, reap and presence (one bucket each), claim (one server id). Every one
 * touches keys of a single hash slot (keys.ts), so each runs unchanged on a Redis Cluster.
 */
import { LuaScript } from './lua';

/**
 * attach. KEYS: peer, serverPeers(me, b), seq, hist, away(b), servers(b), epoch(b), serverPeers(old, b),
 * inbox(old, b) (old: the owner the attaching server expects, '' for none).
 * ARGV: prefix, peerId, kind, me, inboxMaxLen, groups (',g1,g2,' or ''), expected old owner.
 * -> {'ok', epoch, since} | {'unregistered'} | {'owner', serverId}: another server holds the peer
 * online and it is not the one declared: nothing written, attach again with its keys.
 */
const ATTACH = `
local P, peer, kind, me = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now = now_ms()
if not redis.call('ZSCORE', KEYS[6], me) then return {'unregistered'} end
local old = redis.call('HMGET', KEYS[1], 'srv', 'epoch', 'state')
local evict = old[1] and old[1] ~= me and old[3] == 'online'
if evict and old[1] ~= ARGV[7] then return {'owner', old[1]} end
local epoch = redis.call('INCR', KEYS[7])
redis.call('DEL', KEYS[1])
-- kind and grp: what the signalling policy reads (publish), from this peer's own token.
redis.call('HSET', KEYS[1], 'srv', me, 'epoch', int(epoch), 'kind', kind, 'grp', ARGV[6], 'state', 'online', 'since', int(now))
redis.call('HSET', KEYS[2], peer, kind .. ' ' .. int(epoch) .. ' ' .. int(now))
redis.call('ZREM', KEYS[5], peer)
-- An online peer keeps its numbering and history (bounded by MAXLEN and age) for as long as it stays.
redis.call('PERSIST', KEYS[3])
redis.call('PERSIST', KEYS[4])
if evict then
  -- The newest attachment wins: tell the old owner (through its ordered inbox) to drop its socket.
  local v = redis.call('HGET', KEYS[8], peer)
  if v and word(v, 2) == old[2] then redis.call('HDEL', KEYS[8], peer) end
  redis.call('XADD', KEYS[9], 'MAXLEN', '~', ARGV[5], '*', 'k', 'evict', 'p', peer, 'e', old[2])
end
emit(P, {type = 'online', entry = {peerId = peer, kind = kind, serverId = me, state = 'online', since = now}})
return {'ok', epoch, now}
`;

/**
 * detach. KEYS: peer, serverPeers(me, b), seq, hist, away(b). ARGV: prefix, peerId, me, epoch, graceMs, maxAgeMs.
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
 * beat: one bucket's liveness renewal and restart detection. KEYS: redis(b), servers(b), recovering(b).
 * ARGV: me, ttlMs, staleMs. -> {runid, had, fresh, pending}: the run_id of the Redis
 * process serving this bucket's slot (read here, by the process that runs the script, so a failover
 * of one shard is seen in that shard's buckets only); 1 when this server was registered in the
 * bucket before (0: reaped, lost or new); 1 when the bucket's liveness data was refreshed for
 * everyone (see below); 1 when this server still has to re-assert its peers here (restore, then
 * the `recovered` script).
 *
 * `at` is when any server last beat the bucket. When the run_id differs from the one recorded (a
 * restart, failover or migration), or nobody has beaten the bucket for `staleMs` (its shard did not
 * answer: a failover in progress, a slot migrating), its deadlines passed while nobody could renew
 * them: every server known to the bucket gets a fresh deadline, and the publish script meanwhile
 * answers `recovering` rather than `unknown` for an owner whose deadline passed. A server that died
 * meanwhile is reaped one TTL later. A new run_id also restarts the recovery window (`since`).
 *
 * Recovery ends on an event, not a clock: a new run_id puts every server known to the bucket into
 * `recovering(b)` (a promoted replica lacks the writes its primary had not yet sent it, records of
 * peers that attached just before among them; only their owner can put them back). Each leaves it
 * after restoring its peers there (`recovered`), or when reaped. (A Redis that lost the servers
 * ZSET too, restarted without data, is covered by the rebuildMs window alone, as before.)
 */
const BEAT = `
local runid = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)') or 'unknown'
local now = now_ms()
local ttl = tonumber(ARGV[2])
local rec = redis.call('HMGET', KEYS[1], 'runid', 'at')
local fresh = 0
if rec[1] ~= runid then
  redis.call('HSET', KEYS[1], 'runid', runid, 'since', int(now))
  redis.call('DEL', KEYS[3])
  for _, s in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do redis.call('SADD', KEYS[3], s) end
  fresh = 1
elseif now - tonumber(rec[2] or '0') > tonumber(ARGV[3]) then
  fresh = 1
end
if fresh == 1 then
  for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. int(now + ttl))) do
    redis.call('ZADD', KEYS[2], int(now + ttl), s)
  end
end
redis.call('HSET', KEYS[1], 'at', int(now))
local had = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[2], int(now + ttl), ARGV[1])
local pending = redis.call('SISMEMBER', KEYS[3], ARGV[1])
if had then return {runid, 1, fresh, pending} end
return {runid, 0, fresh, pending}
`;

/**
 * recovered: this server has re-asserted its peers in one bucket on the process it beat.
 * KEYS: redis(b), recovering(b). ARGV: me, runid (the one the beat returned). Leaves the set only
 * if that process still serves the slot: a restore that went to a newer process (failover between
 * beat and restore) is repeated after its own beat. -> servers still recovering in the bucket.
 */
const RECOVERED = `
local runid = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)') or 'unknown'
if runid == ARGV[2] then redis.call('SREM', KEYS[2], ARGV[1]) end
return redis.call('SCARD', KEYS[2])
`;

/**
 * claim. KEYS: claim(me). ARGV: instance token, ttlMs. Takes or renews the server id.
 * -> {'ok'} | {'held', pttl}: another process holds the id (live if it renews before pttl runs out).
 *
 * The claim (STRING instance token, PX ttlMs) makes a server id belong to one process: two
 * servers with one id would share inboxes and peer sets. A claim that expired (Redis restarted
 * without it, or this server was cut off for a whole TTL) is taken again unless someone else
 * took it meanwhile.
 */
const CLAIM = `
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return {'held', redis.call('PTTL', KEYS[1])} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {'ok'}
`;

/**
 * reap, one bucket. KEYS: servers(b), away(b), redis(b), recovering(b). ARGV: prefix, me, maxAgeMs, limit,
 * reapExpiredServers ('1'|'0'), forceServer ('' | id), tag(b), staleMs.
 * Expired servers are not reaped in a bucket nobody has renewed in for staleMs (beat's `at`): its
 * deadlines passed because its shard did not answer, not because the servers died.
 * Dead servers' peers go offline; away peers past their grace go offline. ZREM is the claim, so
 * every server may run this and each event is published once. A dead server leaves the ZSET
 * last: a run cut short (a slot moving under it) is finished by the next one.
 * -> {peersGone, msUntilNextDue (-1: nothing pending)}
 */
const REAP = `
local P, me, T = ARGV[1], ARGV[2], ARGV[7]
local now = now_ms()
local gone = 0
local keep = int(now + tonumber(ARGV[3]))
local function offline(p)
  emit(P, {type = 'offline', peerId = p})
  gone = gone + 1
end
local function reap_server(s)
  local pk = P .. 'srv:' .. s .. ':peers:' .. T
  local all = redis.call('HGETALL', pk)
  for i = 1, #all, 2 do
    local p = all[i]
    local key = P .. 'peer:' .. T .. ':' .. p
    local rec = redis.call('HMGET', key, 'srv', 'epoch')
    if rec[1] == s and rec[2] == word(all[i + 1], 2) then
      redis.call('DEL', key)
      -- Offline now, but what was stored stays replayable for the history age.
      redis.call('PEXPIREAT', P .. 'seq:' .. T .. ':' .. p, keep)
      redis.call('PEXPIREAT', P .. 'hist:' .. T .. ':' .. p, keep)
      offline(p)
    end
  end
  redis.call('DEL', pk, P .. 'srv:' .. s .. ':inbox:' .. T)
  -- A dead server re-asserts nothing: the bucket's recovery does not wait for it.
  redis.call('SREM', KEYS[4], s)
  redis.call('ZREM', KEYS[1], s)
end
if ARGV[6] ~= '' then reap_server(ARGV[6]) end
if ARGV[5] == '1' and now - tonumber(redis.call('HGET', KEYS[3], 'at') or '0') <= tonumber(ARGV[8]) then
  for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. int(now), 'LIMIT', 0, tonumber(ARGV[4]))) do
    if s ~= me then reap_server(s) end
  end
end
for _, p in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', int(now), 'LIMIT', 0, tonumber(ARGV[4]))) do
  redis.call('ZREM', KEYS[2], p)
  local key = P .. 'peer:' .. T .. ':' .. p
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

/** presence, one bucket. KEYS: servers(b), away(b). ARGV: prefix, tag(b). -> rows {peerId, kind, serverId, state, since[, awayUntil]} */
const PRESENCE = `
local P, T = ARGV[1], ARGV[2]
local now = now_ms()
local out = {}
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], int(now), '+inf')) do
  local all = redis.call('HGETALL', P .. 'srv:' .. s .. ':peers:' .. T)
  for i = 1, #all, 2 do
    out[#out + 1] = {all[i], word(all[i + 1], 1), s, 'online', word(all[i + 1], 3)}
  end
end
for _, p in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. int(now), '+inf')) do
  local rec = redis.call('HMGET', P .. 'peer:' .. T .. ':' .. p, 'kind', 'srv', 'state', 'since', 'awayUntil')
  if rec[3] == 'away' then out[#out + 1] = {p, rec[1], rec[2], 'away', rec[4], rec[5]} end
end
return out
`;

/**
 * restore: re-register a peer this server still holds after Redis forgot it (reaped while
 * partitioned, restarted without persistence, a failover that lost the last writes).
 * KEYS: peer, serverPeers(me, b), seq, hist, away(b), epoch(b).
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

export const presenceScripts = {
  attach: new LuaScript('attach', ATTACH),
  detach: new LuaScript('detach', DETACH),
  beat: new LuaScript('beat', BEAT),
  recovered: new LuaScript('recovered', RECOVERED),
  claim: new LuaScript('claim', CLAIM),
  reap: new LuaScript('reap', REAP),
  presence: new LuaScript('presence', PRESENCE),
  restore: new LuaScript('restore', RESTORE),
};
