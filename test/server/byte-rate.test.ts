/** The per-connection byte and message rates: the bucket arithmetic and the byte rate's config checks. */
import { pauseMs, refill } from '../../app/server/rate-limit';
import { ConfigError, loadConfig } from '../../app/server/config';

/** The byte balance as frame-queue.ts keeps it: refilled since the last frame, charged, and the pause it asks for. */
function byteRate(perSec: number, burst: number, clock: () => number) {
  let balance = burst;
  let last = clock();
  return {
    spend(bytes: number): number {
      const now = clock();
      balance = refill(balance, now - last, perSec, burst) - bytes;
      last = now;
      return pauseMs(balance, perSec);
    },
  };
}

describe('byte rate', () => {
  it('lets the burst through, then asks the reader to pause exactly as long as the overdraft takes to refill', () => {
    let now = 0;
    const r = byteRate(1_000, 4_000, () => now);
    expect(r.spend(4_000)).toBe(0); // the whole burst at once
    expect(r.spend(500)).toBe(500); // 500 bytes over at 1000 B/s: pause 500 ms
    now += 500;
    expect(r.spend(0)).toBe(0); // back at zero
    now += 10_000;
    expect(r.spend(4_500)).toBe(500); // refill is capped at the burst
  });

  it('never grants more than the rate over a long run, whatever the frame sizes', () => {
    let now = 0;
    const r = byteRate(256 * 1024, 512 * 1024, () => now);
    let read = 0;
    while (now < 60_000) {
      read += 65_536;
      now += Math.max(1, r.spend(65_536)); // the reader resumes only after the pause
    }
    expect(read).toBeLessThanOrEqual(512 * 1024 + 256 * 1024 * 60 + 65_536);
    expect(read).toBeGreaterThan(256 * 1024 * 60 * 0.95);
  });
});

describe('message rate', () => {
  it('lets the burst through, refuses the next frame, and refills at the rate (fractions of a ms kept)', () => {
    let tokens = 3;
    const take = (elapsedMs: number) => {
      tokens = refill(tokens, elapsedMs, 1_000, 3); // one token per ms
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    };
    expect([take(0), take(0), take(0), take(0)]).toEqual([true, true, true, false]);
    expect(take(0.5)).toBe(false); // half a token
    expect(take(0.5)).toBe(true);
    // Frames a quarter of a millisecond apart: the fractions add up to a token, none is rounded away.
    expect([take(0.25), take(0.25), take(0.25), take(0.25)]).toEqual([false, false, false, true]);
    expect(take(10_000)).toBe(true); // refill capped at the burst
    expect([take(0), take(0), take(0)]).toEqual([true, true, false]);
  });
});

describe('byte rate config', () => {
  it('refuses a burst smaller than one largest frame, naming the variable', () => {
    expect(() => loadConfig({ SLUICE_BYTES_BURST: '32768', SLUICE_MAX_FRAME_BYTES: '65536' })).toThrow(ConfigError);
    expect(() => loadConfig({ SLUICE_BYTES_BURST: '32768', SLUICE_MAX_FRAME_BYTES: '65536' })).toThrow(
      /SLUICE_BYTES_BURST: must be >= SLUICE_MAX_FRAME_BYTES/,
    );
    expect(() => loadConfig({ SLUICE_BYTES_PER_SEC: 'fast' })).toThrow(/SLUICE_BYTES_PER_SEC/);
    expect(loadConfig({}).limits).toMatchObject({ bytesPerSec: 256 * 1024, bytesBurst: 512 * 1024 });
  });
});
