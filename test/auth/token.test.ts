/** Peer token verification: signature and claims, and the lifetime bounds (SLUICE_TOKEN_MAX_TTL_SEC, iat skew). */
import { SignJWT } from 'jose';
import { DEFAULT_TOKEN_MAX_TTL_SEC, signToken, TokenError, TOKEN_CLOCK_SKEW_SEC, verifyToken } from '../../app/auth/token';

const SECRET = 'token-test-secret-that-is-at-least-32-chars';
const NOW = Math.floor(Date.now() / 1000);
const DAY = 24 * 3600;

/** A token with exactly these claims (iss sluice, HS256) unless overridden. */
function raw(claims: Record<string, unknown>, opts: { secret?: string; alg?: string; iss?: string } = {}): Promise<string> {
  return new SignJWT({ kind: 'client', sub: 'p1', iss: opts.iss ?? 'sluice', aud: 'sluice', ...claims })
    .setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

async function reason(token: Promise<string> | string, opts = {}): Promise<[string, string]> {
  try {
    await verifyToken(SECRET, await token, opts);
  } catch (err) {
    if (err instanceof TokenError) return [err.reason, err.message];
    throw err;
  }
  return ['accepted', ''];
}

describe('verifyToken', () => {
  it('accepts a token from signToken (what npm run token issues: iat + exp, 24 h)', async () => {
    await expect(verifyToken(SECRET, await signToken(SECRET, { sub: 'gw-1', kind: 'gateway' }))).resolves.toEqual({
      sub: 'gw-1',
      kind: 'gateway',
      account: 'default',
    });
    await expect(verifyToken(SECRET, await raw({ iat: NOW, exp: NOW + DEFAULT_TOKEN_MAX_TTL_SEC }))).resolves.toEqual({
      sub: 'p1',
      kind: 'client',
      account: 'default',
    });
  });

  it.each<[string, () => Promise<string> | string, string, RegExp]>([
    ['no token', () => '', 'missing', /required/],
    ['garbage', () => 'not.a.jwt', 'invalid', /signature or format/],
    ['another secret', () => raw({ iat: NOW, exp: NOW + 60 }, { secret: 'x'.repeat(40) }), 'invalid', /signature/],
    [
      'another issuer',
      () => raw({ iat: NOW, exp: NOW + 60 }, { iss: 'evil' }),
      'wrong_issuer',
      /token iss must be "sluice" \(SLUICE_TOKEN_ISSUER\)/,
    ],
    [
      'another audience',
      () => raw({ iat: NOW, exp: NOW + 60, aud: 'some-other-service' }),
      'wrong_audience',
      /token aud must name "sluice" \(SLUICE_TOKEN_AUDIENCE\)/,
    ],
    ['no audience', () => raw({ iat: NOW, exp: NOW + 60, aud: undefined }), 'wrong_audience', /aud must name/],
    ['a bad acct', () => raw({ iat: NOW, exp: NOW + 60, acct: 'a/b' }), 'invalid', /acct must be/],
    ['too many groups', () => raw({ iat: NOW, exp: NOW + 60, grp: Array.from({ length: 17 }, (_, i) => `g${i}`) }), 'invalid', /grp/],
    ['a bad sig entry', () => raw({ iat: NOW, exp: NOW + 60, sig: ['group:'] }), 'invalid', /sig entry must be a peer id or group:<name>/],
    ['HS512', () => raw({ iat: NOW, exp: NOW + 60 }, { alg: 'HS512' }), 'invalid', /signature or format/],
    ['expired', () => raw({ iat: NOW - 120, exp: NOW - 60 }), 'expired', /expired/],
    ['no exp', () => raw({ iat: NOW }), 'no_expiry', /no exp claim/],
    ['exp not a number', () => raw({ iat: NOW, exp: 'tomorrow' }), 'invalid', /signature or format|exp/],
    [
      'exp - iat beyond 7 days',
      () => raw({ iat: NOW - 60, exp: NOW - 60 + DEFAULT_TOKEN_MAX_TTL_SEC + 1 }),
      'lifetime_exceeded',
      /exp - iat = 604801 s exceeds the maximum 604800 s \(SLUICE_TOKEN_MAX_TTL_SEC\)/,
    ],
    [
      'no iat, exp beyond 7 days away',
      () => raw({ exp: NOW + DEFAULT_TOKEN_MAX_TTL_SEC + 3600 }),
      'lifetime_exceeded',
      /beyond the maximum lifetime 604800 s/,
    ],
    ['an old iat hiding a far exp', () => raw({ iat: NOW - 7 * DAY, exp: NOW + 6 * DAY }), 'lifetime_exceeded', /exp - iat/],
    [
      'iat beyond the clock skew',
      () => raw({ iat: NOW + TOKEN_CLOCK_SKEW_SEC + 30, exp: NOW + DAY }),
      'issued_in_future',
      /iat is 9\d s in the future \(at most 60 s/,
    ],
    ['a bad sub', () => raw({ iat: NOW, exp: NOW + 60, sub: 'a b' }), 'invalid', /sub must be/],
    ['a bad kind', () => raw({ iat: NOW, exp: NOW + 60, kind: 'admin' }), 'invalid', /kind/],
  ])('refuses %s', async (_name, make, want, message) => {
    const [got, text] = await reason(make(), { nowSec: NOW }); // pinned: the messages carry exact seconds
    expect(got).toBe(want);
    expect(text).toMatch(message);
  });

  it('carries the account, groups and sig list; production refuses a token without acct, naming the claim', async () => {
    const tok = await signToken(SECRET, {
      sub: 'c-1',
      kind: 'client',
      account: 'acme',
      groups: ['site-a'],
      allow: ['gw-1', 'group:site-a'],
    });
    await expect(verifyToken(SECRET, tok, { requireAccount: true })).resolves.toEqual({
      sub: 'c-1',
      kind: 'client',
      account: 'acme',
      groups: ['site-a'],
      allow: ['gw-1', 'group:site-a'],
    });
    const [got, text] = await reason(raw({ iat: NOW, exp: NOW + 60 }), { requireAccount: true });
    expect(got).toBe('no_account');
    expect(text).toMatch(/no acct claim: SLUICE_ENV=production requires every token to name its account/);
    // Another configured audience: a sluice-audience token is refused, one for it accepted.
    expect((await reason(signToken(SECRET, { sub: 'c-1', kind: 'client' }), { audience: 'edge-eu' }))[0]).toBe('wrong_audience');
    await expect(
      verifyToken(SECRET, await signToken(SECRET, { sub: 'c-1', kind: 'client' }, 60, { audience: 'edge-eu' }), { audience: 'edge-eu' }),
    ).resolves.toMatchObject({ sub: 'c-1' });
  });

  it('tolerates iat within the skew, and honours a configured maximum lifetime', async () => {
    expect((await reason(raw({ iat: NOW + 30, exp: NOW + DAY })))[0]).toBe('accepted');
    const twoDays = raw({ iat: NOW, exp: NOW + 2 * DAY });
    expect((await reason(twoDays, { maxTtlSec: DAY }))[0]).toBe('lifetime_exceeded');
    expect((await reason(twoDays, { maxTtlSec: 3 * DAY }))[0]).toBe('accepted');
  });

  it('never reports claims of a token whose signature is wrong', async () => {
    const [got] = await reason(raw({ iat: NOW + 10 * DAY }, { secret: 'y'.repeat(40) }));
    expect(got).toBe('invalid');
  });
});

describe('signToken', () => {
  it('refuses a lifetime the servers would refuse, or one that is not whole seconds', async () => {
    await expect(signToken(SECRET, { sub: 'a', kind: 'client' }, DEFAULT_TOKEN_MAX_TTL_SEC + 1)).rejects.toThrow(
      /exceeds the maximum 604800 s/,
    );
    await expect(signToken(SECRET, { sub: 'a', kind: 'client' }, Number.NaN)).rejects.toThrow(/whole number of seconds/);
    await expect(signToken(SECRET, { sub: 'a', kind: 'client' }, 3 * DAY, { maxTtlSec: 2 * DAY })).rejects.toThrow(/maximum 172800 s/);
  });
});

describe('npm run token', () => {
  it('refuses a --ttl beyond the maximum lifetime, naming it', async () => {
    const { execFile } = await import('node:child_process');
    const out = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--import', 'tsx', 'app/cli/token.ts', '--sub', 'a', '--ttl', String(30 * DAY)],
        { cwd: `${__dirname}/../..` },
        (_e, _o, stderr) => resolve({ code: child.exitCode, stderr }),
      );
    });
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/token lifetime 2592000 s exceeds the maximum 604800 s \(SLUICE_TOKEN_MAX_TTL_SEC\)/);
  });
});
