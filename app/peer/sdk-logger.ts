import type { Logger } from 'pino';

/**
 * The SDK's own log lines for a drill peer: warnings and up only (the peer already logs every state
 * change), and never louder than the peer's logger itself, so a silent fleet stays silent.
 */
export function sdkLogger(log: Logger): Logger {
  const level = log.levelVal > 40 ? log.level : 'warn';
  return log.child({ src: 'sdk' }, { level });
}
