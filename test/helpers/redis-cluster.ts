/**
 * The tests' Redis Cluster is the local region's (app/local/region/redis-cluster.ts: 3 primaries +
 * 3 replicas from Debian's redis-server on loopback): one implementation for `npm start` and tests.
 */
export { cli, CLUSTER_NODE_TIMEOUT_MS, RedisCluster } from '../../app/local/region/redis-cluster';
export type { ClusterNodeProc, NodeRow } from '../../app/local/region/redis-cluster';
