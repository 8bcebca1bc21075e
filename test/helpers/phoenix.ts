/** Helpers for suites that drive the official `phoenix` JS client. */
import type { Channel } from 'phoenix';

/** `channel.join()` as a promise of its outcome: ok, error (with the server's response) or timeout. */
export function join(channel: Channel): Promise<{ status: string; response: Record<string, unknown> }> {
  return new Promise((resolve) => {
    channel
      .join()
      .receive('ok', (response: Record<string, unknown>) => resolve({ status: 'ok', response }))
      .receive('error', (response: Record<string, unknown>) => resolve({ status: 'error', response }))
      .receive('timeout', () => resolve({ status: 'timeout', response: {} }));
  });
}
