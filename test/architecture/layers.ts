/**
 * The layers of app/ and what each may import (besides itself). One table, used by the import
 * test and by the architecture diagram check (docs/architecture.md).
 */
export type Layer =
  'contract' | 'protocol' | 'auth' | 'backplane' | 'lifecycle' | 'server' | 'client' | 'peer' | 'cli' | 'gated-steps' | 'local';

export const LAYERS: Record<Layer, { what: string; mayImport: Layer[] }> = {
  contract: { what: 'timeouts contract: plain data, rules, derived bounds', mayImport: [] },
  protocol: { what: 'wire constants: Phoenix V2 frames, close codes, paths, ports', mayImport: ['contract'] },
  auth: { what: 'peer tokens (jose HS256)', mayImport: ['contract', 'protocol'] },
  backplane: { what: 'routing, seq, history, dedupe, presence (memory, Redis)', mayImport: ['contract', 'protocol', 'auth'] },
  lifecycle: { what: 'GCE lifecycle watcher (drain layer 1)', mayImport: ['contract', 'protocol'] },
  server: {
    what: 'WebSocket server, admin listener, drain, shutdown',
    mayImport: ['contract', 'protocol', 'auth', 'backplane', 'lifecycle'],
  },
  client: { what: 'client SDK: heartbeats, backoff, outbox, resume', mayImport: ['contract', 'protocol'] },
  peer: { what: 'simulated peers and fleets', mayImport: ['contract', 'protocol', 'auth', 'client'] },
  cli: { what: 'small command-line tools (token minting)', mayImport: ['contract', 'protocol', 'auth'] },
  'gated-steps': {
    what: 'the gated step loop of a rollout: gates, the admin gate source, the loop itself (no Pulumi)',
    mayImport: ['contract', 'protocol'],
  },
  local: {
    what: 'the local region: lb/, network/, region/, status/, drill/ (npm start, npm run drill)',
    mayImport: ['contract', 'protocol', 'auth', 'backplane', 'lifecycle', 'server', 'client', 'peer', 'gated-steps'],
  },
};

/**
 * What infra/ may take from app/: the values it must agree on (contract, protocol) and the
 * Pulumi-free gated step loop (app/gated-steps) that both `npm run rollout` and the local region drive.
 */
export const INFRA_MAY_IMPORT: Layer[] = ['contract', 'protocol', 'gated-steps'];

/** `app/<layer>/...` -> layer. */
export function layerOf(repoPath: string): Layer {
  const m = /^app\/([^/]+)\//.exec(repoPath);
  if (!m || !(m[1] in LAYERS)) throw new Error(`${repoPath}: not in a known layer of app/`);
  return m[1] as Layer;
}
