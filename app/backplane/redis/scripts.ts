/**
 * Every backplane script by name. The Lua lives in signal-scripts.ts (publish, replay) and
 * presence-scripts.ts (attachments, liveness, reaping), the shared helpers in lua.ts.
 */
import { presenceScripts } from './presence-scripts';
import { signalScripts } from './signal-scripts';

export { LuaScript, RedisLike } from './lua';

export const scripts = { ...signalScripts, ...presenceScripts };
