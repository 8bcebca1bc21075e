/**
 * Strict command-line options for the benchmark scripts, on Node's own `util.parseArgs`: each script
 * declares its options once (name, kind, default, bounds) and gets typed values back. An unknown
 * flag, a missing or malformed value, or a stray argument stops the script with exit code 2 and a
 * message naming the flag and what it expects, before anything starts: before this, `--peer 5000`
 * (for `--peers`) was ignored and the default 10k ran for minutes, and overwrote the results file.
 * `--help` stays bench/lib/help.ts's (imported first by every script, it exits before this runs).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';

interface Base<K extends string> {
  kind: K;
}
export interface IntOpt extends Base<'int'> {
  default: number;
  min: number;
}
/** A whole number with no default: undefined when not given (a default that depends on another option). */
export interface MaybeIntOpt extends Base<'maybe-int'> {
  min: number;
}
export interface IntsOpt extends Base<'ints'> {
  default: readonly number[];
  min: number;
}
export interface StringOpt extends Base<'string'> {
  default?: string;
}
export interface PathOpt extends Base<'path'> {
  default?: string;
}
export interface ChoiceOpt<T extends string> extends Base<'choice'> {
  choices: readonly T[];
  default: T;
}
export interface ChoicesOpt<T extends string> extends Base<'choices'> {
  choices: readonly T[];
  default: readonly T[];
}
export type FlagOpt = Base<'flag'>;
export type Opt = IntOpt | MaybeIntOpt | IntsOpt | StringOpt | PathOpt | ChoiceOpt<string> | ChoicesOpt<string> | FlagOpt;

/** Builders for a script's option table, e.g. `{ peers: opt.int(10_000, { min: 2 }) }`. */
export const opt = {
  /** A whole number >= min (default 1). */
  int: (def: number, o: { min?: number } = {}): IntOpt => ({ kind: 'int', default: def, min: o.min ?? 1 }),
  /** A whole number >= min (default 1), undefined when not given. */
  maybeInt: (o: { min?: number } = {}): MaybeIntOpt => ({ kind: 'maybe-int', min: o.min ?? 1 }),
  /** Comma-separated whole numbers, each >= min (default 1): `--rates 2000,5000`. */
  ints: (def: readonly number[], o: { min?: number } = {}): IntsOpt => ({ kind: 'ints', default: def, min: o.min ?? 1 }),
  /** Any non-empty text. */
  string: (def?: string): StringOpt => ({ kind: 'string', default: def }),
  /** A file or directory, returned resolved against the working directory. */
  path: (): PathOpt => ({ kind: 'path' }),
  /** One of the choices. */
  choice: <T extends string>(choices: readonly T[], def: NoInfer<T>): ChoiceOpt<T> => ({ kind: 'choice', choices, default: def }),
  /** Comma-separated, each one of the choices: `--systems sluice,ws`. */
  choices: <T extends string>(choices: readonly T[], def: readonly NoInfer<T>[]): ChoicesOpt<T> => ({
    kind: 'choices',
    choices,
    default: def,
  }),
  /** Present or not; takes no value. */
  flag: (): FlagOpt => ({ kind: 'flag' }),
};

type ValueOf<O> = O extends IntOpt
  ? number
  : O extends MaybeIntOpt
    ? number | undefined
    : O extends IntsOpt
      ? number[]
      : O extends ChoiceOpt<infer T>
        ? T
        : O extends ChoicesOpt<infer T>
          ? T[]
          : O extends FlagOpt
            ? boolean
            : O extends { default: string }
              ? string
              : string | undefined;
export type Values<S extends Record<string, Opt>> = { -readonly [K in keyof S]: ValueOf<S[K]> };

/** What was wrong with the command line (the message names the flag and what it expects). */
export class BenchArgsError extends Error {}

function expects(o: Opt): string {
  switch (o.kind) {
    case 'int':
    case 'maybe-int':
      return `a whole number >= ${o.min}`;
    case 'ints':
      return `comma-separated whole numbers, each >= ${o.min}`;
    case 'string':
      return 'a value';
    case 'path':
      return 'a path';
    case 'choice':
      return `one of ${o.choices.join(', ')}`;
    case 'choices':
      return `comma-separated values from ${o.choices.join(', ')}`;
    case 'flag':
      return 'no value';
  }
}

function wholeNumber(raw: string, min: number): number | undefined {
  if (!/^-?\d+$/.test(raw.trim())) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= min ? n : undefined;
}

function convert(name: string, o: Opt, raw: string): unknown {
  const bad = () => new BenchArgsError(`--${name}: expected ${expects(o)}, got '${raw}'`);
  switch (o.kind) {
    case 'int':
    case 'maybe-int': {
      const n = wholeNumber(raw, o.min);
      if (n === undefined) throw bad();
      return n;
    }
    case 'ints': {
      const list = raw.split(',').map((p) => wholeNumber(p, o.min));
      if (list.length === 0 || list.some((n) => n === undefined)) throw bad();
      return list;
    }
    case 'string':
    case 'path':
      if (raw === '') throw bad();
      return o.kind === 'path' ? path.resolve(raw) : raw;
    case 'choice':
      if (!o.choices.includes(raw)) throw bad();
      return raw;
    case 'choices': {
      const list = raw.split(',');
      if (list.some((p) => !o.choices.includes(p))) throw bad();
      return list;
    }
    case 'flag':
      throw bad();
  }
}

/** The known option closest to a typo (at most 2 edits apart), for the message. */
function nearest(name: string, known: string[]): string | undefined {
  const edits = (a: string, b: string) => {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const row = [i];
      for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row;
    }
    return prev[b.length];
  };
  const best = known.map((k) => ({ k, d: edits(name, k) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= 2 ? best.k : undefined;
}

/**
 * The options of `argv` by `spec`, with defaults filled in. Throws BenchArgsError on an unknown
 * option, a value it cannot take, a value missing, or an argument that belongs to no option.
 * `positionals` (default none) names the only kind of bare argument the script takes, if any.
 */
export function parseBenchArgs<S extends Record<string, Opt>>(
  spec: S,
  argv: readonly string[],
  positionals?: { name: string; allowed: readonly string[] },
): Values<S> & { positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' }, h: { type: 'boolean' } };
  for (const [name, o] of Object.entries(spec)) options[name] = { type: o.kind === 'flag' ? 'boolean' : 'string' };
  // strict: false, then every token checked here: Node's strict errors do not say what a flag expects.
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const known = Object.keys(spec);
  const list = known.length ? known.map((k) => `--${k}`).join(', ') : 'none';
  const out: Record<string, unknown> = {};
  const bare: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'option-terminator') continue;
    if (t.kind === 'positional') {
      if (!positionals) throw new BenchArgsError(`unexpected argument '${t.value}' (options: ${list})`);
      if (!positionals.allowed.some((a) => a.startsWith(t.value)))
        throw new BenchArgsError(`unknown ${positionals.name} '${t.value}': expected one of ${positionals.allowed.join(', ')}`);
      bare.push(t.value);
      continue;
    }
    if (t.name === 'help' || t.name === 'h') continue;
    const o = spec[t.name];
    if (!o) {
      const near = nearest(t.name, known);
      throw new BenchArgsError(`${t.rawName}: unknown option${near ? ` (did you mean --${near}?)` : ''}; options: ${list}`);
    }
    if (o.kind === 'flag') {
      if (t.value !== undefined) throw new BenchArgsError(`--${t.name}: takes no value, got '${t.value}'`);
      out[t.name] = true;
      continue;
    }
    if (t.value === undefined) throw new BenchArgsError(`--${t.name}: missing its value (expected ${expects(o)})`);
    out[t.name] = convert(t.name, o, t.value);
  }
  for (const [name, o] of Object.entries(spec)) {
    if (name in out) continue;
    if (o.kind === 'flag') out[name] = false;
    else if (o.kind === 'maybe-int') out[name] = undefined;
    else if (o.kind === 'path') out[name] = o.default === undefined ? undefined : path.resolve(o.default);
    else out[name] = Array.isArray(o.default) ? [...(o.default as unknown[])] : o.default;
  }
  return { ...(out as Values<S>), positionals: bare };
}

/**
 * parseBenchArgs on this process's arguments; on a bad command line prints the reason and exits 2
 * (the usual code for a usage error) before the script starts anything.
 */
export function benchArgs<S extends Record<string, Opt>>(
  spec: S,
  positionals?: { name: string; allowed: readonly string[] },
): Values<S> & { positionals: string[] } {
  try {
    return parseBenchArgs(spec, process.argv.slice(2), positionals);
  } catch (e) {
    if (!(e instanceof BenchArgsError)) throw e;
    const script = path.relative(process.cwd(), process.argv[1] ?? 'bench');
    process.stderr.write(`${script}: ${e.message}\n(run with --help for what it measures and its options)\n`);
    process.exit(2);
  }
}
