/**
 * The per-recipient quota's one home (app/contract/recipient-quota.ts): its validation names the
 * variable and what was expected, the per-sender bound comes from one function, and
 * docs/security.md states the numbers the contract really has.
 */
import fs from 'node:fs';
import path from 'node:path';
import { defaultTimeouts } from '../../app/contract/timeouts';
import { DEFAULT_RECIPIENT_QUOTA, recipientQuotaErrors, senderHistoryBound } from '../../app/contract/recipient-quota';
import { DEFAULT_BUDGET } from '../../app/backplane/budget';

const MiB = 1024 * 1024;

test('the defaults are valid, and each bad value is refused naming its variable and what was expected', () => {
  expect(recipientQuotaErrors(DEFAULT_RECIPIENT_QUOTA, 64 * 1024)).toEqual([]);
  const errors = recipientQuotaErrors({ recipientSignalsPerSec: 0.5, recipientBytesPerSec: 100_000, senderHistoryShare: 0 }, 64 * 1024);
  expect(errors).toEqual([
    'SLUICE_RECIPIENT_SIGNALS_PER_SEC: must be >= 1, got 0.5',
    'SLUICE_RECIPIENT_BYTES_PER_SEC: must be an integer >= 2 x SLUICE_MAX_FRAME_BYTES (131072): one largest signal must fit the one-second bucket, got 100000',
    'SLUICE_SENDER_HISTORY_SHARE: must be in (0, 1], got 0',
  ]);
  expect(recipientQuotaErrors({ ...DEFAULT_RECIPIENT_QUOTA, recipientSignalsPerSec: Number.NaN }, 1024)).toHaveLength(1);
});

test('the backplanes use the contract values, and the per-sender bound is a quarter of the default history', () => {
  expect(DEFAULT_BUDGET).toMatchObject(DEFAULT_RECIPIENT_QUOTA);
  expect(
    senderHistoryBound(DEFAULT_RECIPIENT_QUOTA, defaultTimeouts.resume.historyMaxMessages, DEFAULT_BUDGET.historyMaxBytesPerPeer),
  ).toEqual({
    entries: 250,
    bytes: MiB,
  });
  // Never zero entries: a tiny share still lets a sender store one signal.
  expect(senderHistoryBound({ ...DEFAULT_RECIPIENT_QUOTA, senderHistoryShare: 0.0001 }, 1000, MiB).entries).toBe(1);
});

test('docs/security.md states the quota the contract has: per recipient, per sender, and at the memory budget', () => {
  const doc = fs.readFileSync(path.resolve(__dirname, '../../docs/security.md'), 'utf8');
  const q = DEFAULT_RECIPIENT_QUOTA;
  const sender = senderHistoryBound(q, defaultTimeouts.resume.historyMaxMessages, DEFAULT_BUDGET.historyMaxBytesPerPeer);
  expect(doc).toContain(`\`SLUICE_RECIPIENT_SIGNALS_PER_SEC\` (${q.recipientSignalsPerSec})`);
  expect(doc).toContain(`\`SLUICE_RECIPIENT_BYTES_PER_SEC\` (${q.recipientBytesPerSec / MiB} MiB)`);
  expect(doc).toContain(`\`SLUICE_SENDER_HISTORY_SHARE\` (${q.senderHistoryShare})`);
  expect(doc).toContain(`(${sender.entries} entries / ${sender.bytes / MiB} MiB)`);
  expect(doc).toMatch(/At the process memory budget \(`SLUICE_MEMORY_BUDGET_BYTES`\)/);
});
