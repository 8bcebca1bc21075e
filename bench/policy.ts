/**
 * Benchmark: what the signalling policy (app/auth/policy.ts) costs per signal, side by side.
 *   1. the check alone: `checkFor` (a Set lookup) + `targetPermitted` (kind and groups), ns/op and
 *      heap bytes allocated per op;
 *   2. a MemoryBackplane publish to 100 online recipients without a check and with one (the
 *      server's hot path through the backplane), interleaved rounds, median ns/signal and the ratio.
 * The relay bench (bench/relay.ts) runs the whole server with the policy on: its pairs are client
 * and gateway, so every relayed signal passes the check.
 *
 * Run: npx tsx bench/policy.ts [--rounds 5]
 */
import './lib/help'; // first: --help prints the comment above and exits
import { benchArgs, opt } from './lib/args';
import { checkFor, DEFAULT_SIGNAL_POLICY, senderChecks, targetPermitted } from '../app/auth/policy';
import { MemoryBackplane } from '../app/backplane/memory';
import type { Delivery, SignalEnvelope } from '../app/backplane/types';
import { defaultTimeouts } from '../app/contract/timeouts';
import { machine, median, table, writeResults } from './lib/report';

const { rounds: ROUNDS } = benchArgs({ rounds: opt.int(5) });
const CHECKS = 2_000_000;
const SIGNALS = 100_000;
const RECIPIENTS = 100;

function checkOnly(): { nsPerOp: number; bytesPerOp: number } {
  const plain = senderChecks({ sub: 'c-1', kind: 'client', account: 'acme' }, DEFAULT_SIGNAL_POLICY);
  const narrow = senderChecks({ sub: 'c-2', kind: 'client', account: 'acme', allow: ['gw-7', 'group:site-a'] }, DEFAULT_SIGNAL_POLICY);
  const ids = Array.from({ length: RECIPIENTS }, (_, i) => `gw-${i}`);
  const groups = [['site-a'], ['site-b'], undefined];
  let ok = 0;
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < CHECKS; i++) {
    const [s, sub] = i & 1 ? [plain, 'c-1'] : [narrow, 'c-2'];
    if (targetPermitted(checkFor(s, sub, ids[i % RECIPIENTS]), 'gateway', groups[i % 3])) ok++;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  const heap1 = process.memoryUsage().heapUsed;
  if (ok === 0) throw new Error('no check passed: the benchmark measured nothing');
  return { nsPerOp: ns / CHECKS, bytesPerOp: Math.max(0, heap1 - heap0) / CHECKS };
}

async function publishRound(withCheck: boolean): Promise<number> {
  const bp = new MemoryBackplane(defaultTimeouts.resume, { budget: { recipientSignalsPerSec: 1e9, recipientBytesPerSec: 1e12 } });
  const sink = { deliver: (_d: Delivery) => true, onEvicted: () => undefined };
  for (let r = 0; r < RECIPIENTS; r++) await bp.attach({ id: `acme/gw-${r}`, kind: 'gateway' }, 'bench', sink);
  const checks = senderChecks({ sub: 'c-1', kind: 'client', account: 'acme' }, DEFAULT_SIGNAL_POLICY);
  const subs = Array.from({ length: RECIPIENTS }, (_, r) => `gw-${r}`);
  const tos = subs.map((s) => `acme/${s}`);
  const data = JSON.stringify({ sdp: 'x'.repeat(100) });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < SIGNALS; i++) {
    const r = i % RECIPIENTS;
    const env: SignalEnvelope = { from: 'acme/c-1', to: tos[r], id: `m${i}`, data };
    if (withCheck) env.check = checkFor(checks, 'c-1', subs[r]);
    await bp.publish(env);
  }
  const ns = Number(process.hrtime.bigint() - t0) / SIGNALS;
  await bp.close();
  return ns;
}

async function main(): Promise<void> {
  const m = machine();
  const checks = Array.from({ length: ROUNDS }, () => checkOnly());
  const without: number[] = [];
  const withPolicy: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Interleaved, alternating which goes first.
    if (r % 2) {
      withPolicy.push(await publishRound(true));
      without.push(await publishRound(false));
    } else {
      without.push(await publishRound(false));
      withPolicy.push(await publishRound(true));
    }
  }
  const check = median(checks.map((c) => c.nsPerOp));
  const alloc = median(checks.map((c) => c.bytesPerOp));
  const a = median(without);
  const b = median(withPolicy);
  const md = [
    '# Policy check cost per signal',
    '',
    table(
      ['measure', 'median'],
      [
        ['checkFor + targetPermitted (ns/op)', check.toFixed(1)],
        ['heap allocated by the check (bytes/op, incl. GC noise)', alloc.toFixed(2)],
        ['MemoryBackplane publish, no check (ns/signal)', a.toFixed(0)],
        ['MemoryBackplane publish, with the check (ns/signal)', b.toFixed(0)],
        ['ratio with / without', (b / a).toFixed(3)],
      ],
    ),
    '',
    `${ROUNDS} rounds; ${CHECKS.toLocaleString('en')} checks and ${SIGNALS.toLocaleString('en')} publishes to ${RECIPIENTS} online recipients per round.`,
  ].join('\n');
  writeResults('policy', m, md, {
    rounds: ROUNDS,
    checkNs: checks.map((c) => c.nsPerOp),
    allocBytes: checks.map((c) => c.bytesPerOp),
    publishNs: { without, withPolicy },
  });
}

void main();
