/**
 * How the server secures its Redis connections, from its environment (the stack sets these when
 * `sluice:redisCluster` turns `transitEncryption` / `iamAuth` on; infra/program.ts):
 *
 *   SLUICE_REDIS_TLS_CA        TLS to Redis, trusting this CA: a path to a PEM file, or the PEM itself
 *                              (newlines may be written as the two characters `\n`, for env files).
 *                              Several certificates (every region's cluster CA) may be concatenated.
 *   SLUICE_REDIS_IAM_AUTH      `1`: AUTH with an IAM access token from the metadata server (iam-token.ts).
 *   SLUICE_REDIS_METADATA_URL  the metadata server's base URL (tests only: loopback http URLs).
 *
 * Memorystore's side: "When in-transit encryption is enabled, Redis clients communicate exclusively
 * across a secure connection. Redis clients that aren't configured for TLS are blocked"
 * (cloud.google.com/memorystore/docs/cluster/manage-in-transit-encryption).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { DEFAULT_METADATA_BASE } from './iam-token';

export interface RedisSecurity {
  /** PEM bundle the server trusts for Redis TLS; undefined: plaintext. */
  tlsCa?: string;
  /** Base URL of the metadata server to take IAM access tokens from; undefined: no AUTH token. */
  iamMetadataUrl?: string;
}

const PEM_BEGIN = '-----BEGIN CERTIFICATE-----';

/** Reads the variables above; throws an error naming the variable and what was expected. */
export function redisSecurityFromEnv(env: NodeJS.ProcessEnv): RedisSecurity {
  const out: RedisSecurity = {};
  const ca = env.SLUICE_REDIS_TLS_CA;
  if (ca !== undefined && ca !== '') {
    let pem: string;
    if (ca.includes(PEM_BEGIN)) pem = ca.replace(/\\n/g, '\n');
    else {
      try {
        pem = readFileSync(ca, 'utf8');
      } catch (err) {
        throw new Error(`SLUICE_REDIS_TLS_CA: cannot read ${ca} (${(err as Error).message}); expected a PEM file or PEM text`);
      }
      if (!pem.includes(PEM_BEGIN)) throw new Error(`SLUICE_REDIS_TLS_CA: ${ca} holds no "${PEM_BEGIN}"`);
    }
    out.tlsCa = pem;
  }
  const iam = env.SLUICE_REDIS_IAM_AUTH;
  if (iam !== undefined && !['', '0', '1', 'true', 'false'].includes(iam))
    throw new Error(`SLUICE_REDIS_IAM_AUTH: expected 1 or 0, got "${iam}"`);
  const base = env.SLUICE_REDIS_METADATA_URL;
  if (base !== undefined) checkLoopback(base);
  if (iam === '1' || iam === 'true') out.iamMetadataUrl = base ?? DEFAULT_METADATA_BASE;
  return out;
}

/** The metadata override exists for tests: a loopback http URL, never anywhere else. */
function checkLoopback(base: string): void {
  let u: URL;
  try {
    u = new URL(base);
  } catch {
    throw new Error(`SLUICE_REDIS_METADATA_URL: "${base}" is not a URL`);
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (u.protocol !== 'http:' || !loopback)
    throw new Error(`SLUICE_REDIS_METADATA_URL: expected http://127.x.x.x:<port> (loopback, tests only), got "${base}"`);
}

interface StreamConnector {
  connect: (...args: unknown[]) => Promise<NodeJS.EventEmitter>;
}

/**
 * TLS guard: ioredis listens for a socket's errors with `once` (its connector, then the
 * connection), but a TLS handshake can emit more than one (our certificate check fails, then the
 * server's alert arrives), and an unheard 'error' event would end the process. Every socket of
 * `conn` (a Cluster: of every node connection it makes) gets one listener that keeps the extra
 * errors quiet; ioredis still reports the first through the connection's 'error' event.
 */
export function guardTlsSockets(conn: import('ioredis').Redis | import('ioredis').Cluster): void {
  const guard = (redis: import('ioredis').Redis) => {
    const connector = (redis as unknown as { connector?: StreamConnector }).connector;
    if (!connector) return;
    const connect = connector.connect.bind(connector);
    connector.connect = async (...args: unknown[]) => {
      const stream = await connect(...args);
      stream.on('error', () => undefined);
      return stream;
    };
  };
  if ('nodes' in conn && typeof conn.nodes === 'function' && !('connector' in conn)) {
    for (const n of conn.nodes('all')) guard(n);
    conn.on('+node', guard);
  } else guard(conn as import('ioredis').Redis);
}
