/**
 * Picks and starts the region's load balancer: the built-in TCP balancer (builtin.ts) or HAProxy
 * (haproxy.ts), both configured from the timeouts contract and both a `LoadBalancer`.
 */
import type { Timeouts } from '../../contract/timeouts';
import { Balancer } from './builtin';
import { HaproxyBalancer, haproxyAvailable } from './haproxy';
import { healthCheckFor, LoadBalancer, LocalBalancerKind } from './load-balancer';

export function resolveLbKind(asked: LocalBalancerKind | 'auto'): LocalBalancerKind {
  if (asked === 'haproxy' && !haproxyAvailable()) throw new Error('--lb haproxy: haproxy is not on PATH (apt-get install haproxy)');
  if (asked !== 'auto') return asked;
  return haproxyAvailable() ? 'haproxy' : 'builtin';
}

export async function startLoadBalancer(
  kind: LocalBalancerKind,
  opts: { port: number; dir: string; timeouts: Timeouts },
): Promise<LoadBalancer> {
  const health = healthCheckFor(opts.timeouts);
  const lb: LoadBalancer =
    kind === 'haproxy'
      ? new HaproxyBalancer({ port: opts.port, dir: opts.dir, timeouts: opts.timeouts, health })
      : new Balancer({
          port: opts.port,
          idleTimeoutMs: opts.timeouts.lb.idleTimeoutSec * 1000,
          drainingMs: opts.timeouts.lb.connectionDrainingSec * 1000,
          checkIntervalMs: health.intervalMs,
          checkTimeoutMs: health.timeoutMs,
          rise: health.rise,
          fall: health.fall,
        });
  await lb.start();
  return lb;
}
