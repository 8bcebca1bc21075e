/**
 * An IAM access token for the server's service account, kept fresh: the AUTH password of a
 * Memorystore for Redis Cluster created with IAM authentication (AUTH_MODE_IAM_AUTH).
 *
 * - How a client authenticates: "IAM authentication integrates with Redis AUTH: a client presents
 *   an IAM access token, which the Memorystore cluster verifies before it allows access to data"
 *   (cloud.google.com/memorystore/docs/cluster/about-iam-auth; the stored English page was cut short,
 *   this sentence is translated from its zh-CN copy: "IAM 身份验证功能使用 Redis AUTH 命令与 IAM
 *   集成,允许客户端提供将由 Memorystore 集群验证的 IAM 访问令牌,然后才能访问数据").
 * - Why it is renewed: the token "expires one hour after retrieval"; "when establishing a new Redis
 *   connection you must provide a valid access token with AUTH ... if you have already authenticated
 *   an existing connection, it keeps working even if the token expires" (same page, zh-CN:
 *   "建立新的 Redis 连接时,您必须使用 AUTH 命令提供有效的访问令牌 ... 即使令牌过期,该连接仍可
 *   继续正常运行"). So open connections are left alone and every (re)connect takes the current token.
 * - Where it comes from: the VM's metadata server, GET
 *   /computeMetadata/v1/instance/service-accounts/default/token with `Metadata-Flavor: Google`;
 *   the answer carries `access_token` and `expires_in` (seconds).
 *
 * Renewal: at half the remaining lifetime (at least MIN_REFRESH_MS apart), so a token is replaced
 * long before it expires; a failed fetch is retried with a capped backoff while the old token is
 * still valid. One timer owns the schedule.
 */

/** The metadata server as seen from a GCE VM (or a GKE pod with Workload Identity). */
export const DEFAULT_METADATA_BASE = 'http://metadata.google.internal';
export const TOKEN_PATH = '/computeMetadata/v1/instance/service-accounts/default/token';
const MIN_REFRESH_MS = 1_000;
const RETRY_CAP_MS = 30_000;
const FETCH_TIMEOUT_MS = 5_000;

export interface AccessToken {
  token: string;
  /** Seconds of validity the metadata server reported. */
  expiresInSec: number;
}

/** One GET of the token; throws an error naming what was wrong (status, field). */
export async function fetchAccessToken(baseUrl: string, timeoutMs = FETCH_TIMEOUT_MS): Promise<AccessToken> {
  const res = await fetch(new URL(TOKEN_PATH, baseUrl), {
    headers: { 'Metadata-Flavor': 'Google' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`metadata token: HTTP ${res.status} from ${baseUrl}`);
  const body = (await res.json()) as { access_token?: unknown; expires_in?: unknown };
  if (typeof body.access_token !== 'string' || body.access_token === '')
    throw new Error('metadata token: answer has no access_token string');
  if (typeof body.expires_in !== 'number' || !(body.expires_in > 0))
    throw new Error('metadata token: answer has no positive expires_in (seconds)');
  return { token: body.access_token, expiresInSec: body.expires_in };
}

/** Keeps the current token; `onToken` hears every new one (the first included). */
export class MetadataTokenSource {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private current: string | undefined;
  private failures = 0;
  private first: Promise<string> | undefined;

  constructor(
    private readonly o: {
      baseUrl: string;
      onToken: (token: string) => void;
      onError: (err: Error) => void;
    },
  ) {}

  get token(): string | undefined {
    return this.current;
  }

  /** Resolves with the first token (retrying until one comes or stop() is called). */
  start(): Promise<string> {
    this.first ??= new Promise<string>((resolve, reject) => {
      const firstListener = this.o.onToken;
      this.o.onToken = (t) => {
        firstListener(t);
        resolve(t);
      };
      this.onStop = () => reject(new Error('metadata token: stopped before the first token'));
      void this.refresh();
    });
    return this.first;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.onStop();
  }

  private onStop: () => void = () => undefined;

  private async refresh(): Promise<void> {
    let delay: number;
    try {
      const t = await fetchAccessToken(this.o.baseUrl);
      if (this.stopped) return;
      this.failures = 0;
      if (t.token !== this.current) {
        this.current = t.token;
        this.o.onToken(t.token);
      }
      delay = Math.max(MIN_REFRESH_MS, Math.floor((t.expiresInSec * 1_000) / 2));
    } catch (err) {
      if (this.stopped) return;
      this.o.onError(err instanceof Error ? err : new Error(String(err)));
      delay = Math.min(RETRY_CAP_MS, 250 * 2 ** Math.min(this.failures++, 10));
    }
    this.timer = setTimeout(() => void this.refresh(), delay);
    this.timer.unref();
  }
}
