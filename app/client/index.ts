/** The sluice client SDK: `new SluiceClient({ url, token }).connect()`; see the README, "Client SDK". */
export { SluiceClient } from './client';
export * from './types';
export { Backoff, backoffCeilingMs, fullJitterMs, parseRetryAfterMs, restartDelayMs, retryAfterDelayMs } from './backoff';
export { subjectOf } from './wire';
