/** The per-connection byte rate (backpressure): the bucket arithmetic and its config checks. */
import { ByteRate } from '../../app/server/rate-limit';
import { ConfigError, loadConfig } from '../../app/server/config';

describe('ByteRate', () => {
  it('lets the burst through, then asks the reader to pause exactly as long as the overdraft takes to refill', () => {
    let now = 0;
    const r = new ByteRate(1_000, 4_000, () => now);
    expect(r.spend(4_000)).toBe(0); // the whole burst at once
    expect(r.spend(500)).toBe(500); // 500 bytes over at 1000 B/s: pause 500 ms
    now += 500;
    expect(r.spend(0)).toBe(0); // back at zero
    now += 10_000;
    expect(r.spend(4_500)).toBe(500); // refill is capped at the burst
  });

  it('never grants more than the rate over a long run, whatever the frame sizes', () => {
    let now = 0;
    const r = new ByteRate(256 * 1024, 512 * 1024, () => now);
    let read = 0;
    while (now < 60_000) {
      read += 65_536;
      now += Math.max(1, r.spend(65_536)); // the reader resumes only after the pause
    }
    expect(read).toBeLessThanOrEqual(512 * 1024 + 256 * 1024 * 60 + 65_536);
    expect(read).toBeGreaterThan(256 * 1024 * 60 * 0.95);
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
