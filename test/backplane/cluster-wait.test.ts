/**
 * Durability of an `ok` across a failover (docs/backplane.md, "Durability across a failover"): with
 * SLUICE_REDIS_WAIT_REPLICAS=1 the publish script is followed by `WAIT 1` on the same connection,
 * and the `ok` is given only once a replica has the signal's writes. On a local Redis Cluster (3
 * primaries + 1 replica each):
 *
 *   1. the replica of the recipient's shard is stopped (SIGSTOP): no `ok`, the publish answers
 *      backplane_unavailable (the SDK resends with the same id) after the WAIT timeout;
 *   2. a signal acked `stored` is followed at once by SIGKILL of its primary: once the replica is
 *      promoted, the signal is in the recipient's history with its seq and its dedupe record answers
 *      a resend `duplicate`.
 */
import { RedisBackplane } from '../../app/backplane/redis/backplane';
import { redisTiming } from '../../app/backplane/redis/clients';
import { keys } from '../../app/backplane/redis/keys';
import { BackplaneError } from '../../app/backplane/types';
import { resolveTimeouts } from '../../app/contract/timeouts';
import { RedisCluster } from '../helpers/redis-cluster';
import { until } from '../helpers/server';
import { FAST, untilPresenceSettled } from './helpers';

jest.setTimeout(120_000);

const timeouts = resolveTimeouts(FAST);
const prefix = 'wait:';
const k = keys(prefix);
const RCPT = 'rcpt-w';
const slot = k.slot(k.bucketOf(RCPT));

let cluster: RedisCluster;
const open: RedisBackplane[] = [];
let a: RedisBackplane;
/** A server on the same cluster without WAIT. */
let c: RedisBackplane;

beforeAll(async () => {
  cluster = await RedisCluster.start({ primaries: 3, replicas: 1 });
  const make = (serverId: string, waitReplicas: number) =>
    new RedisBackplane({ cluster: cluster.seeds, serverId, timeouts, prefix, waitReplicas });
  a = make('w-a', 1);
  const b = make('w-b', 1);
  c = make('w-c', 0);
  open.push(a, b, c);
  await Promise.all([a.whenReady(), b.whenReady(), c.whenReady()]);
  await untilPresenceSettled(a);
  // Attached on b behind a socket that takes nothing: every signal is `stored` in its history.
  await b.attach({ id: RCPT, kind: 'gateway' }, 'w-b', { deliver: () => false, onEvicted: () => undefined });
}, 60_000);

afterAll(async () => {
  await Promise.all(open.map((b) => b.close()));
  await cluster?.destroy();
});

const outcome = (p: Promise<unknown>) =>
  p.then(
    (v) => v,
    (err: Error) => (err instanceof BackplaneError ? err.reason : err.message),
  );

test('a replica that does not acknowledge within the WAIT timeout: no ok (backplane_unavailable)', async () => {
  const primary = await cluster.primaryOf(slot);
  const replica = await cluster.replicaOf(primary.id);
  const proc = cluster.nodes.find((n) => n.port === replica.port)!.proc;
  proc.kill('SIGSTOP');
  try {
    const t0 = Date.now();
    expect(await outcome(a.publish({ from: 's', to: RCPT, id: 'w0', data: '0' }))).toBe('backplane_unavailable');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(redisTiming(timeouts).replicaWaitMs - 20);
  } finally {
    proc.kill('SIGCONT');
  }
  // Once the replica has caught up, the resend of the same id is answered (accepted the first time,
  // on the primary only: its record is found, and WAIT now sees it replicated).
  await until(async () => (await outcome(a.publish({ from: 's', to: RCPT, id: 'w0', data: '0' }))) !== 'backplane_unavailable', 20_000);
});

test('an ok given after WAIT survives SIGKILL of its primary right after it', async () => {
  const ok = await a.publish({ from: 's', to: RCPT, id: 'w1', data: '"kept"' });
  expect(ok.status).toBe('stored');
  const { promoted } = await cluster.killPrimary(slot);
  expect((await cluster.primaryOf(slot)).id).toBe(promoted.id);
  // The shard has no replica left, so WAIT 1 cannot be met: a server without WAIT (c) checks what
  // the promoted replica holds. Its dedupe record answers the resend `duplicate` with the same seq ...
  let again: unknown;
  await until(
    async () => (again = await outcome(c.publish({ from: 's', to: RCPT, id: 'w1', data: '"kept"' }))) !== 'backplane_unavailable',
    30_000,
  );
  expect(again).toEqual({ status: 'duplicate', seq: ok.seq });
  // ... and the recipient's history holds the signal.
  const page = await c.replay(RCPT, 0);
  expect(page.deliveries.map((d) => [d.id, d.seq, d.data])).toContainEqual(['w1', ok.seq, '"kept"']);
});
