/** The sluice client SDK: `new SluiceClient({ url, token }).connect()`; see docs/protocol-and-sdk.md and app/client/README.md. */
export { SluiceClient } from './client';
export * from './types';
export { Backoff, backoffCeilingMs, fullJitterMs, parseRetryAfterMs, restartDelayMs, retryAfterDelayMs } from './backoff';
export { subjectOf } from './wire';
