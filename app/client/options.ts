/**
 * The SDK's options, checked once when a SluiceClient is made: a bad URL, a missing token or a broken
 * timeouts contract found later, inside the reconnect loop, would only ever retry. What passes is
 * the client's settings, with the defaults filled in.
 */
import { defaultTimeouts, Timeouts, TimeoutsContractError, validate } from '../contract/timeouts';
import type { Random } from './backoff';
import type { ClientLogger, SluiceClientOptions, TokenSource } from './types';
import { redact, subjectOf } from './wire';

const silent: ClientLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined };

export interface ClientSettings {
  timeouts: Timeouts;
  urls: readonly string[];
  /** The URL of the first attempt. */
  urlIndex: number;
  token: TokenSource;
  tokenInQuery: boolean;
  random: Random;
  log: ClientLogger;
  /** `peerId`, else the `sub` of a string token; a token function's is read at the first connect. */
  peerId?: string;
  /** `resumeFrom`: the last seq handed to listeners by an earlier process (null: start from now). */
  lastSeq: number | null;
}

/** The options checked, defaults filled in; throws naming what is wrong. */
export function clientSettings(opts: SluiceClientOptions): ClientSettings {
  const timeouts = opts.timeouts ?? defaultTimeouts;
  const violations = validate(timeouts);
  if (violations.length > 0) throw new TimeoutsContractError(violations);
  const urls = typeof opts.url === 'string' ? [opts.url] : [...opts.url];
  if (urls.length === 0) throw new Error('SluiceClient: at least one url is required');
  for (const u of urls) {
    const parsed = new URL(u);
    if (!['ws:', 'wss:'].includes(parsed.protocol)) throw new Error(`SluiceClient: not a ws:// or wss:// URL: ${redact(u)}`);
    if (parsed.hash) throw new Error(`SluiceClient: a WebSocket URL has no #fragment: ${redact(u)}`);
  }
  if (!(typeof opts.token === 'function' || (typeof opts.token === 'string' && opts.token.length > 0))) {
    throw new TypeError(
      `SluiceClient: token is required: a string (a JWT, e.g. from \`npm run token\`) or a function returning one; got ${opts.token === '' ? 'an empty string' : typeof opts.token}`,
    );
  }
  return {
    timeouts,
    urls,
    urlIndex: (opts.startUrlIndex ?? 0) % urls.length,
    token: opts.token,
    tokenInQuery: opts.tokenInQuery ?? false,
    random: opts.random ?? Math.random,
    log: opts.logger ?? silent,
    peerId: opts.peerId ?? (typeof opts.token === 'string' ? subjectOf(opts.token) : undefined),
    lastSeq: opts.resumeFrom ?? null,
  };
}
