/**
 * What every backplane script shares: the Lua helpers (PRELUDE) and how a script is run (EVALSHA,
 * EVAL after a restart emptied the script cache). Each script runs atomically in Redis, so one
 * signal's dedupe + seq + history + routing never interleaves with another server's publish,
 * attach or reaper. Times come from Redis' own clock (TIME), never a server's, so servers with
 * skewed clocks agree on deadlines.
 *
 * Numbers that end up in keys, ids or values go through `int()` (string.format %d): Lua's default
 * number formatting switches to exponent notation above 1e14, which would corrupt a stream id.
 *
 * Redis Cluster: every key a script touches hashes to ONE slot (keys.ts: the bucket's hash tag), and
 * every key a script writes is declared in KEYS, so a slot being migrated answers ASK/TRYAGAIN
 * before the script starts instead of failing half way (keys built inside a script are only read,
 * or written by the reaper, which tolerates a retry).
 */
import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { RECORD_OVERHEAD_BYTES } from '../budget';

/** A single Redis or a Redis Cluster: both route EVALSHA by its first key. */
export type RedisLike = Redis | Cluster;

export const PRELUDE = `
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

  /**
   * The script, then `WAIT replicas timeoutMs` in one pipeline: on one connection, to the node of the
   * keys' slot (ioredis sends a pipeline's keyless commands with its keyed ones), so WAIT counts the
   * replicas that have this script's writes ("WAIT blocks the current client until all the previous
   * write commands are successfully transferred and acknowledged by at least the number of replicas
   * specified", redis.io/commands/wait). Resolves with the script's reply and the replicas WAIT saw.
   * A redirection (MOVED/ASK after a failover or during a migration) fails the pipeline: ioredis does
   * not resend a pipeline that holds a write, so the caller refreshes the slot map and the client resends.
   */
  async runAndWait(
    redis: RedisLike,
    keys: string[],
    args: Array<string | number>,
    replicas: number,
    timeoutMs: number,
  ): Promise<[unknown, number]> {
    for (const useEval of [false, true]) {
      const p = redis.pipeline();
      if (useEval) p.eval(this.source, keys.length, ...keys, ...args);
      else p.evalsha(this.sha, keys.length, ...keys, ...args);
      p.wait(replicas, timeoutMs);
      const [[scriptErr, reply], [waitErr, acked]] = (await p.exec()) as Array<[Error | null, unknown]>;
      if (scriptErr && !useEval && String(scriptErr.message).startsWith('NOSCRIPT')) continue;
      if (scriptErr) {
        if (/^(MOVED|ASK) /.test(scriptErr.message) && 'refreshSlotsCache' in redis) redis.refreshSlotsCache();
        throw scriptErr;
      }
      if (waitErr) throw waitErr;
      return [reply, Number(acked)];
    }
    throw new Error(`${this.name}: NOSCRIPT after EVAL`);
  }

  async run(redis: RedisLike, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
