/** Helpers shared by the client suites (the project-wide ones are in test/helpers). */
import { resolveTimeouts, Timeouts, TimeoutsOverrides } from '../../app/contract/timeouts';
import { SluiceClient } from '../../app/client/index';
import type { ClientEvents, SluiceClientOptions } from '../../app/client/index';
import { seeded, token } from '../helpers/server';

/** Small client timers that still satisfy the contract (validate()), for tests not about the defaults. */
export const FAST_CLIENT: TimeoutsOverrides['client'] = {
  heartbeatIntervalMs: 200,
  heartbeatTimeoutMs: 400,
  deadPeerDetectionMs: 600,
  connectTimeoutMs: 1_000,
  joinTimeoutMs: 1_000,
  reconnectBaseMs: 50,
  reconnectCapMs: 400,
  restartJitterMs: 100,
};

export function fastTimeouts(overrides: TimeoutsOverrides = {}): Timeouts {
  return resolveTimeouts({ ...overrides, client: { ...FAST_CLIENT, ...overrides.client } });
}

const clients = new Set<SluiceClient>();

/** A client for `sub` with a test token, seeded randomness; closed by `closeClients()`. */
export async function client(url: string | string[], sub: string, opts: Partial<SluiceClientOptions> = {}): Promise<SluiceClient> {
  const c = new SluiceClient({
    url,
    token: await token(sub, sub.startsWith('gw') ? 'gateway' : 'client'),
    random: seeded(sub.length * 7919 + 1),
    ...opts,
  });
  clients.add(c);
  return c;
}

export async function closeClients(): Promise<void> {
  await Promise.all([...clients].map((c) => c.close()));
  clients.clear();
}

/** Resolves with the next `event` emitted by `c` (optionally the next one matching `filter`). */
export function next<K extends keyof ClientEvents>(
  c: SluiceClient,
  event: K,
  filter: (...args: ClientEvents[K]) => boolean = () => true,
): Promise<ClientEvents[K]> {
  return new Promise((resolve) => {
    const listener = (...args: ClientEvents[K]) => {
      if (!filter(...args)) return;
      (c.off as (e: K, l: typeof listener) => void)(event, listener);
      resolve(args);
    };
    (c.on as (e: K, l: typeof listener) => void)(event, listener);
  });
}
