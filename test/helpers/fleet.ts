import type { FleetSummary } from '../../app/peer/fleet';

/** The exactly-once verdict on a fleet run: everything sent arrived once, nothing is left in flight. */
export function expectExactlyOnce(s: FleetSummary): void {
  expect(s.settled).toBe(true);
  expect(s.lost).toBe(0);
  expect(s.duplicated).toBe(0);
  expect(s.failed).toBe(0);
  expect(s.unacked).toBe(0);
  expect(s.delivered).toBe(s.sent);
}
