/**
 * The issuer's side of asymmetric peer tokens (what the portal's backend does; servers only verify,
 * keys.ts): generate an EdDSA or ES256 key pair with a `kid`, publish the public half in a JWKS,
 * sign tokens with the private half. `npm run token -- keygen` and `--key` use these.
 */
import fs from 'node:fs';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, JWK } from 'jose';
import { SignOptions, TokenSubject, unsignedToken } from './token';

/** Asymmetric algorithms servers accept from a JWKS (HS256 stays for the development secret). */
export const ISSUER_ALGORITHMS = ['EdDSA', 'ES256'] as const;
export type IssuerAlgorithm = (typeof ISSUER_ALGORITHMS)[number];

export interface IssuerKeyPair {
  kid: string;
  alg: IssuerAlgorithm;
  /** Private JWK (with kid and alg): the issuer keeps it. */
  privateJwk: JWK;
  /** Public JWK (with kid, alg, use=sig): what the JWKS publishes. */
  publicJwk: JWK;
}

export async function generateIssuerKey(alg: IssuerAlgorithm, kid: string): Promise<IssuerKeyPair> {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(kid)) throw new Error(`kid must be 1-64 characters of [A-Za-z0-9_.-], got "${kid}"`);
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateJwk, publicJwk };
}

/** A JWKS document of these public keys (during a rotation: the old and the new). */
export function jwks(keys: Array<Pick<IssuerKeyPair, 'publicJwk'>>): { keys: JWK[] } {
  return { keys: keys.map((k) => k.publicJwk) };
}

/** Sign a peer token with an issuer private JWK (its kid goes in the header). */
export async function signWithKey(privateJwk: JWK, id: TokenSubject, ttlSec: number, opts: SignOptions = {}): Promise<string> {
  const alg = privateJwk.alg;
  if (alg !== 'EdDSA' && alg !== 'ES256') throw new Error(`private key alg must be EdDSA or ES256, got ${String(alg)}`);
  if (!privateJwk.kid) throw new Error('private key has no kid: servers select the verification key by kid');
  const jwt = unsignedToken(id, ttlSec, { alg, kid: privateJwk.kid, typ: 'JWT' }, opts);
  return jwt.sign(await importJWK(privateJwk, alg));
}

export async function readPrivateJwk(file: string): Promise<JWK> {
  const jwk = JSON.parse(fs.readFileSync(file, 'utf8')) as JWK;
  if (!jwk.d) throw new Error(`${file} holds no private key (no "d")`);
  return jwk;
}

/** Write `<dir>/<kid>.private.jwk.json` (mode 0600) and add the public key to `<dir>/jwks.json`. */
export function writeKeyPair(dir: string, pair: IssuerKeyPair): { privateKey: string; jwks: string } {
  fs.mkdirSync(dir, { recursive: true });
  const privateKey = path.join(dir, `${pair.kid}.private.jwk.json`);
  fs.writeFileSync(privateKey, `${JSON.stringify(pair.privateJwk)}\n`, { mode: 0o600 });
  const set = path.join(dir, 'jwks.json');
  const existing = fs.existsSync(set) ? (JSON.parse(fs.readFileSync(set, 'utf8')) as { keys: JWK[] }).keys : [];
  const keys = [...existing.filter((k) => k.kid !== pair.kid), pair.publicJwk];
  fs.writeFileSync(set, `${JSON.stringify({ keys }, null, 2)}\n`);
  return { privateKey, jwks: set };
}
