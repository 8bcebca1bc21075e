/** Types for `cluster-key-slot` (ioredis' own dependency): Redis Cluster's CRC16 key -> slot, hash tags honoured. */
declare module 'cluster-key-slot' {
  function keySlot(key: string | Buffer): number;
  export = keySlot;
}
