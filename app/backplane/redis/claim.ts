/**
 * The claim on a server id (`srv:<id>:claim`, a random token per process with `PX presence.ttlMs`,
 * renewed with the liveness deadlines): two processes with one id would share an inbox and a peer
 * set, so a starting server takes the id only when no live process holds it. Held by another
 * process: live if it renews the claim within one renew interval (this one refuses to start),
 * dead if the claim just runs out (at most presence.ttlMs after that process died; this one takes it).
 */
import type { Logger } from 'pino';
import type { Timeouts } from '../../contract/timeouts';
import type { RedisTiming } from './clients';
import type { Keys } from './keys';
import type { RedisLike } from './lua';
import { scripts } from './scripts';

/** Raised by `whenReady` when another live process holds the server id. */
export class ServerIdConflictError extends Error {
  readonly code = 'SERVER_ID_CONFLICT';
}

export interface ServerIdClaimOptions {
  command: RedisLike;
  keys: Keys;
  serverId: string;
  timeouts: Timeouts;
  timing: RedisTiming;
  log: Logger;
  /** This process's claim on `serverId` (random per process). */
  instanceToken: string;
}

/** What a claim attempt found: ours, held by a live process (conflict), or held: look again after `retryInMs`. */
export type ClaimResult = { kind: 'ok' } | { kind: 'conflict'; detail: string } | { kind: 'held'; detail: string; retryInMs: number };

export class ServerIdClaim {
  /** While another process's claim on our id is being watched: its PTTL when first seen. */
  private heldSeen?: { pttl: number; at: number };

  constructor(private readonly o: ServerIdClaimOptions) {}

  private run(): Promise<[string, number?]> {
    const { command, keys, serverId, instanceToken, timeouts } = this.o;
    return scripts.claim.run(command, [keys.claim(serverId)], [instanceToken, timeouts.presence.ttlMs]) as Promise<[string, number?]>;
  }

  /** Renew the claim; false when another process holds it. */
  async renew(): Promise<boolean> {
    return (await this.run())[0] === 'ok';
  }

  /** Claim the server id before registering. */
  async take(): Promise<ClaimResult> {
    const { serverId, timing, timeouts } = this.o;
    const res = await this.run();
    if (res[0] === 'ok') {
      this.heldSeen = undefined;
      return { kind: 'ok' };
    }
    const pttl = Number(res[1]);
    const now = Date.now();
    const seen = this.heldSeen;
    // Renewed since first seen: its remaining time grew beyond what the elapsed time explains.
    if (seen && pttl > seen.pttl - (now - seen.at) + timing.reconnectCapMs)
      return {
        kind: 'conflict',
        detail: `server id ${serverId} is in use by another live process (SLUICE_SERVER_ID must be unique per process)`,
      };
    if (!seen) {
      this.heldSeen = { pttl, at: now };
      this.o.log.warn({ serverId, pttl }, 'server id held by another process: waiting one renew interval to see if it is alive');
    }
    return {
      kind: 'held',
      detail: `server id ${serverId} held by another process; waiting for it to renew or expire`,
      retryInMs: Math.min(timeouts.presence.renewIntervalMs + timing.reconnectCapMs, Math.max(25, pttl + 25)),
    };
  }
}
