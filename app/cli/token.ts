/**
 * `npm run token -- --sub gw-1 --kind gateway --account acme`: print a signed peer token.
 *
 * Development: HS256 with SLUICE_TOKEN_SECRET (the development default when unset).
 * Issuer side: `--key <private.jwk.json>` signs with an EdDSA or ES256 private JWK (its `kid` in the
 * header), the way an issuer's backend would; servers verify it from the published JWKS.
 * `npm run token -- keygen --alg EdDSA --kid k1 --out dir/` writes a key pair: the private JWK
 * (kept by the issuer) and a JWKS with the public key (published to the servers).
 */
import { Command, Option } from 'commander';
import {
  ACCOUNT_PATTERN,
  DEFAULT_ACCOUNT,
  DEFAULT_AUDIENCE,
  DEFAULT_ISSUER,
  DEFAULT_TOKEN_TTL_SEC,
  DEV_TOKEN_SECRET,
  PEER_KINDS,
  PeerKind,
  signToken,
} from '../auth/token';
import { JTI_PATTERN } from '../auth/revocation';
import { generateIssuerKey, ISSUER_ALGORITHMS, readPrivateJwk, signWithKey, writeKeyPair } from '../auth/issuer';

const list = (v: string) =>
  v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

interface MintOpts {
  sub: string;
  kind: PeerKind;
  account: string;
  groups?: string[];
  allow?: string[];
  ttl: number;
  key?: string;
  aud: string;
  iss: string;
  jti?: string;
}

const program = new Command('token')
  .description(
    'Print a peer token: HS256 with SLUICE_TOKEN_SECRET (development default when unset), or signed with an issuer private key (--key).',
  )
  .option('--sub <id>', 'peer id (the token subject; required)')
  .addOption(new Option('--kind <kind>', 'peer kind').choices([...PEER_KINDS]).default('client'))
  .option('--account <name>', 'account (tenant) of the peer: the acct claim', DEFAULT_ACCOUNT)
  .option('--groups <g1,g2>', 'groups the peer belongs to (grp claim)', list)
  .option('--allow <ids>', 'the only peers (ids, or group:<name>) it may signal (sig claim)', list)
  .option('--ttl <seconds>', 'lifetime in seconds', (v) => Number.parseInt(v, 10), DEFAULT_TOKEN_TTL_SEC)
  .option('--key <file>', 'sign with this private JWK (EdDSA or ES256, from `token keygen`) instead of the shared secret')
  .option('--aud <audience>', 'aud claim (SLUICE_TOKEN_AUDIENCE of the servers)', DEFAULT_AUDIENCE)
  .option('--iss <issuer>', 'iss claim (SLUICE_TOKEN_ISSUER of the servers)', DEFAULT_ISSUER)
  .option('--jti <id>', 'jti claim: the token id an operator can revoke alone (POST /revoke?jti=...)')
  .action(async (o: MintOpts) => {
    if (!o.sub) throw new Error('--sub <id> is required (the peer id: the token subject)');
    if (!ACCOUNT_PATTERN.test(o.account)) throw new Error(`--account must be 1-64 characters of [A-Za-z0-9_.-], got "${o.account}"`);
    const id = { sub: o.sub, kind: o.kind, account: o.account, groups: o.groups, allow: o.allow };
    if (o.jti !== undefined && !JTI_PATTERN.test(o.jti)) throw new Error('--jti must be 1-128 printable ASCII characters without spaces');
    const claims = { audience: o.aud, issuer: o.iss, jti: o.jti };
    const token = o.key
      ? await signWithKey(await readPrivateJwk(o.key), id, o.ttl, claims)
      : await signToken(process.env.SLUICE_TOKEN_SECRET ?? DEV_TOKEN_SECRET, id, o.ttl, claims);
    process.stdout.write(`${token}\n`);
  });

program
  .command('keygen')
  .description(
    'Write an issuer key pair: <out>/<kid>.private.jwk.json (keep it) and <out>/jwks.json (publish it; an existing one gains the key)',
  )
  .addOption(new Option('--alg <alg>', 'algorithm').choices([...ISSUER_ALGORITHMS]).default('EdDSA'))
  .requiredOption('--kid <kid>', 'key id (rotation: a new kid per key)')
  .requiredOption('--out <dir>', 'directory to write to')
  .action(async (o: { alg: (typeof ISSUER_ALGORITHMS)[number]; kid: string; out: string }) => {
    const pair = await generateIssuerKey(o.alg, o.kid);
    const files = writeKeyPair(o.out, pair);
    process.stdout.write(`${JSON.stringify(files)}\n`);
  });

program.parseAsync().catch((err: Error) => {
  process.stderr.write(`token: ${err.message}\n`);
  process.exit(2);
});
