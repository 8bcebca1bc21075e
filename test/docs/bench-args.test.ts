/**
 * Strict benchmark options (bench/lib/args.ts): an unknown flag, a malformed or missing value or a
 * stray argument is refused with a message naming the flag and what it expects. Before it,
 * `--peer 5000` (for `--peers`) was ignored and the default 10k drain ran for minutes.
 * The scripts themselves are run with bad flags in test/docs/bench-help.test.ts.
 */
import path from 'node:path';
import { BenchArgsError, opt, parseBenchArgs } from '../../bench/lib/args';

const SPEC = {
  peers: opt.int(10_000, { min: 2 }),
  rounds: opt.maybeInt(),
  rates: opt.ints([5_000, 10_000]),
  sdk: opt.flag(),
  baseline: opt.path(),
  label: opt.string('run'),
  system: opt.choice(['sluice', 'ws'] as const, 'sluice'),
  systems: opt.choices<'sluice' | 'socketio' | 'ws'>(['sluice', 'socketio', 'ws'], ['sluice', 'ws']),
};
const parse = (...argv: string[]) => parseBenchArgs(SPEC, argv);
const refusal = (...argv: string[]) => {
  try {
    parse(...argv);
  } catch (e) {
    expect(e).toBeInstanceOf(BenchArgsError);
    return (e as Error).message;
  }
  throw new Error(`accepted ${argv.join(' ')}`);
};

describe('bench options (bench/lib/args.ts)', () => {
  it('fills in defaults and converts what is given', () => {
    expect(parse()).toEqual({
      peers: 10_000,
      rounds: undefined,
      rates: [5_000, 10_000],
      sdk: false,
      baseline: undefined,
      label: 'run',
      system: 'sluice',
      systems: ['sluice', 'ws'],
      positionals: [],
    });
    const v = parse('--peers', '5000', '--rates=2000,3000', '--sdk', '--baseline', 'x/y', '--system', 'ws', '--systems', 'socketio');
    expect(v).toMatchObject({ peers: 5_000, rates: [2_000, 3_000], sdk: true, system: 'ws', systems: ['socketio'] });
    expect(v.baseline).toBe(path.resolve('x/y'));
    const rounds: number | undefined = parse('--rounds', '3').rounds;
    expect(rounds).toBe(3);
    expect(refusal('--rounds', '0')).toBe("--rounds: expected a whole number >= 1, got '0'");
  });

  it('refuses an unknown flag, naming it and the nearest known one', () => {
    expect(refusal('--peer', '5000')).toBe(
      '--peer: unknown option (did you mean --peers?); options: --peers, --rounds, --rates, --sdk, --baseline, --label, --system, --systems',
    );
    expect(refusal('--verbose')).toMatch(/^--verbose: unknown option; options: --peers/);
  });

  it('refuses a value the option cannot take, saying what it expects', () => {
    expect(refusal('--peers', 'ten')).toBe("--peers: expected a whole number >= 2, got 'ten'");
    expect(refusal('--peers', '1')).toBe("--peers: expected a whole number >= 2, got '1'");
    expect(refusal('--peers', '1.5')).toBe("--peers: expected a whole number >= 2, got '1.5'");
    expect(refusal('--rates', '2000,fast')).toBe("--rates: expected comma-separated whole numbers, each >= 1, got '2000,fast'");
    expect(refusal('--system', 'nats')).toBe("--system: expected one of sluice, ws, got 'nats'");
    expect(refusal('--systems', 'ws,nats')).toMatch(/^--systems: expected comma-separated values from sluice, socketio, ws/);
    expect(refusal('--sdk=yes')).toBe("--sdk: takes no value, got 'yes'");
    expect(refusal('--label', '')).toBe("--label: expected a value, got ''");
  });

  it('refuses a missing value and a stray argument', () => {
    expect(refusal('--peers')).toBe('--peers: missing its value (expected a whole number >= 2)');
    expect(refusal('5000')).toMatch(/^unexpected argument '5000' \(options: --peers/);
  });

  it('takes named bare arguments only where the script declares them', () => {
    const only = { name: 'benchmark', allowed: ['relay.ts', 'redis.ts'] };
    expect(parseBenchArgs({}, ['rel', 'redis'], only).positionals).toEqual(['rel', 'redis']);
    expect(() => parseBenchArgs({}, ['rely'], only)).toThrow("unknown benchmark 'rely': expected one of relay.ts, redis.ts");
  });

  it('leaves --help to bench/lib/help.ts', () => {
    expect(parse('--help').peers).toBe(10_000);
  });
});
