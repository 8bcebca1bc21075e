/**
 * The server's resource limits: what one connection and the process may hold (frames, rates,
 * buffered bytes, connections, history, memory) with their defaults, and the file descriptors kept
 * back from WebSockets. loadConfig() (config.ts) fills them from the environment.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { DEFAULT_TOKEN_MAX_TTL_SEC } from '../auth/token';
import { DEFAULT_BUDGET } from '../backplane/budget';
import type { RecipientQuota } from '../contract/recipient-quota';

export interface Limits extends RecipientQuota {
  /** Largest accepted WebSocket message; larger ones close the connection with 1009. */
  maxFrameBytes: number;
  /** Token bucket per connection: sustained messages per second ... */
  ratePerSec: number;
  /** ... and burst size. Exceeding it closes with 1008. */
  rateBurst: number;
  /** A connection whose unsent bytes exceed this is a slow consumer and is disconnected. */
  maxBufferedBytes: number;
  /**
   * Incoming bytes per second per connection, and the burst above it: past it the server stops
   * reading that socket for a while (backpressure through TCP), it never closes for it.
   */
  bytesPerSec: number;
  bytesBurst: number;
  /** WebSocket connections per process (open + upgrading); further upgrades get 503 with Retry-After. */
  maxConnections: number;
  /** Open connections per token `sub`; a further upgrade for that sub gets 429. */
  maxConnectionsPerPeer: number;
  /** Longest token lifetime accepted (`exp - iat`, and `exp - now`). */
  tokenMaxTtlSec: number;
  /** Replay history bytes kept per recipient (app/backplane/budget.ts); older entries are trimmed. */
  historyMaxBytesPerPeer: number;
  /** Bytes this process holds for peers: in-memory history + dedupe records + queued frames. */
  memoryBudgetBytes: number;
}

/** SLUICE_MAX_CONNECTIONS when the open-file limit leaves room for it. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;

export const defaultLimits: Limits = {
  maxFrameBytes: 64 * 1024,
  ratePerSec: 50,
  rateBurst: 100,
  maxBufferedBytes: 1024 * 1024,
  bytesPerSec: 256 * 1024,
  bytesBurst: 512 * 1024,
  maxConnections: DEFAULT_MAX_CONNECTIONS,
  maxConnectionsPerPeer: 4,
  tokenMaxTtlSec: DEFAULT_TOKEN_MAX_TTL_SEC,
  historyMaxBytesPerPeer: DEFAULT_BUDGET.historyMaxBytesPerPeer,
  memoryBudgetBytes: DEFAULT_BUDGET.memoryBudgetBytes,
  recipientSignalsPerSec: DEFAULT_BUDGET.recipientSignalsPerSec,
  recipientBytesPerSec: DEFAULT_BUDGET.recipientBytesPerSec,
  senderHistoryShare: DEFAULT_BUDGET.senderHistoryShare,
};

/**
 * File descriptors never given to WebSockets (docs/security.md "Limits and failure behaviour"): the public
 * listener keeps `publicHttp` sockets for /healthz, /readyz and upgrades in flight beyond the
 * WebSocket cap, the admin listener holds at most `admin`, and `process` is left for everything else
 * (stdio, epoll, listeners, Redis clients, DNS, logs). WebSockets get what remains of `ulimit -n`.
 */
export const FD_RESERVE = { publicHttp: 32, admin: 32, process: 64 } as const;
export const FD_RESERVED = FD_RESERVE.publicHttp + FD_RESERVE.admin + FD_RESERVE.process;

/** This process's soft open-file limit (`ulimit -n`); Infinity when unlimited or unknown. */
export function openFileLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    if (soft) return soft === 'unlimited' ? Infinity : Number(soft);
  } catch {
    // not Linux: ask a shell, which inherits our limit
  }
  const r = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : Infinity;
}
