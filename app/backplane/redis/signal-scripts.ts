/**
 * The signal path's scripts: publish (dedupe, policy, quota, seq, history, route) and replay.
 * Both touch one recipient's keys, all in its bucket's hash slot (keys.ts).
 */
import { LuaScript } from './lua';

/**
 * publish. KEYS: dedupe(to, from, id), peer(to), seq(to), hist(to), servers(b), redis(b), quota(to),
 * inbox(owner, b) of the owner the publisher expects (keys.ts; '' when it does not know one), recovering(b).
 * ARGV: prefix, to, from, id, data(JSON), replyTo, reqId, dedupeMs, maxLen, maxAgeMs, inboxMaxLen, rebuildMs,
 * maxBytes (per-recipient history bytes), then the sender's policy for this target
 * (app/auth/policy.ts TargetCheck): absent ('unknown' | 'forbidden'), refuseKind ('' = any kind),
 * groups ('*' = no group condition, else ',g1,g2,'); then the recipient quota (budget.ts
 * RecipientQuota): signals/s, bytes/s, the sender's entries (senderHistoryBound), busy retry ms, the
 * sender's bytes (senderHistoryBound); then the owner the publisher expects (ARGV[22], '' for none),
 * and how long a bucket may go unrenewed before its deadlines are not trusted (ARGV[23], beat).
 * -> {'owner', serverId} (the expected owner was wrong: nothing written, publish again with its inbox) |
 * {'duplicate', seq} | {'unknown'} | {'forbidden'} | {'busy', retryMs, why} | {'recovering'} | {'stored', seq} | {'routed', seq, ownerServerId}
 */
const PUBLISH = `
local P = ARGV[1]
local now = now_ms()
-- Right after a new Redis process appeared (restart, failover), until every live server has
-- renewed and restored its peers: presence may be incomplete ("not found" = "not known yet") and
-- a seq counter may be behind what a peer already has (its owner raises it). Refuse for now. The
-- window ends when every server of the bucket has re-asserted its peers (KEYS[9], beat), and not
-- before rebuildMs (a server the new process does not know at all registers within it).
local since = tonumber(redis.call('HGET', KEYS[6], 'since') or '0')
if since == 0 or now - since < tonumber(ARGV[12]) then return {'recovering'} end
if redis.call('SCARD', KEYS[9]) > 0 then return {'recovering'} end
local dup = redis.call('GET', KEYS[1])
if dup then return {'duplicate', tonumber(dup)} end
-- An absent target answers like a refused one wherever the policy could refuse it (no presence oracle).
-- Unless no server has beaten this process yet (run_id not the recorded one): a promoted replica
-- serving a command ioredis re-sent after the failover, before any publisher saw an error. Its
-- presence lacks what the old primary had not replicated (recent attaches, renewals: an owner's
-- deadline passed there though it renewed), and its recovery window has not been opened yet.
local function unknown(why)
  local runid = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
  if runid ~= redis.call('HGET', KEYS[6], 'runid') then return {'recovering'} end
  return {ARGV[14], 0, why}
end
local rec = redis.call('HMGET', KEYS[2], 'srv', 'epoch', 'state', 'awayUntil', 'kind', 'grp', 'awayFrom')
local srv, epoch, state = rec[1], rec[2], rec[3]
if not srv then return unknown('no record') end
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
  if not deadline or tonumber(deadline) < now then
    -- Nobody renewed in this bucket for a while (its shard was failing over or migrating): the
    -- deadline passed for want of a renewal, not because the owner died. Refuse until a beat.
    if now - tonumber(redis.call('HGET', KEYS[6], 'at') or '0') > tonumber(ARGV[23]) then return {'recovering'} end
    return unknown('owner expired')
  end
  -- The inbox written below must be declared (KEYS[8]): Cluster checks declared keys before a
  -- script starts, so a migrating slot redirects the whole script instead of failing mid-way.
  if srv ~= ARGV[22] then return {'owner', srv} end
elseif state ~= 'away' then
  return unknown('not online')
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
redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[11], '*',
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

export const signalScripts = {
  publish: new LuaScript('publish', PUBLISH),
  replay: new LuaScript('replay', REPLAY),
};
