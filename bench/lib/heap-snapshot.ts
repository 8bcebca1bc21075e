/**
 * Reading V8 heap snapshots (bench/heap.ts): what a later snapshot of the same process added, per
 * constructor and per retainer path. Node ids are stable across snapshots of one process, so "added"
 * is every node whose id the earlier snapshot does not hold. A retainer path runs up from an added
 * node to the nearest per-connection object of Node, ws or sluice (OWNERS), so every added byte is
 * charged to the connection part that holds it, e.g.
 * `WebSocket._events > Object.(properties) > array`: the properties store of ws's listener table.
 */
import fs from 'node:fs';

interface RawSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** The per-connection objects a path stops at (constructor names). */
export const OWNERS = new Set([
  'Socket',
  'TCP',
  'WritableState',
  'ReadableState',
  'WebSocket',
  'Receiver',
  'Sender',
  'PeerConnection',
  'PeerChannel',
  'MemorySession',
  'SluiceServer',
  'MemoryBackplane',
]);

export interface Added {
  /** Objects and self bytes added, per constructor ("object:Socket", "array", "closure:", ...). */
  byConstructor: Map<string, { count: number; bytes: number }>;
  /** The same bytes per retainer path (owner first, then the edges down to the node). */
  byPath: Map<string, { count: number; bytes: number }>;
  totalBytes: number;
  /**
   * Native (C++) objects the snapshot shows beside the heap, e.g. a socket's TCPSocketWrap: not in
   * the JS heap, and new ids in every snapshot, so they are counted apart and never as "added".
   */
  nativeBytes: number;
}

export class HeapSnapshot {
  private readonly s: RawSnapshot;
  private readonly nf: number;
  private readonly ef: number;
  private readonly field: Record<'type' | 'name' | 'id' | 'self_size' | 'edge_count', number>;
  private readonly edge: Record<'type' | 'name_or_index' | 'to_node', number>;
  readonly count: number;

  constructor(file: string) {
    this.s = JSON.parse(fs.readFileSync(file, 'utf8')) as RawSnapshot;
    const m = this.s.snapshot.meta;
    this.nf = m.node_fields.length;
    this.ef = m.edge_fields.length;
    const at = (fields: string[], name: string) => fields.indexOf(name);
    this.field = {
      type: at(m.node_fields, 'type'),
      name: at(m.node_fields, 'name'),
      id: at(m.node_fields, 'id'),
      self_size: at(m.node_fields, 'self_size'),
      edge_count: at(m.node_fields, 'edge_count'),
    };
    this.edge = {
      type: at(m.edge_fields, 'type'),
      name_or_index: at(m.edge_fields, 'name_or_index'),
      to_node: at(m.edge_fields, 'to_node'),
    };
    this.count = this.s.nodes.length / this.nf;
  }

  ids(): Set<number> {
    const out = new Set<number>();
    for (let i = 0; i < this.count; i++) out.add(this.s.nodes[i * this.nf + this.field.id]);
    return out;
  }

  /** "object:Socket", "closure:name", "array", "number"... (the constructor for objects, else the node type). */
  label(i: number): string {
    const type = this.s.snapshot.meta.node_types[0][this.s.nodes[i * this.nf + this.field.type]];
    const named = type === 'object' || type === 'closure' || type === 'native' || type === 'hidden' || type === 'synthetic';
    return named ? `${type}:${this.s.strings[this.s.nodes[i * this.nf + this.field.name]].slice(0, 40)}` : type;
  }

  /** What this snapshot holds that `before` (an earlier snapshot of the same process) did not. */
  addedSince(before: Set<number>, pathDepth = 6): Added {
    const { nodes, edges, strings } = this.s;
    const edgeTypes = this.s.snapshot.meta.edge_types[0];
    // Who retains each node (weak edges do not), and by which edge.
    const retainers: Array<Array<[number, string]>> = Array.from({ length: this.count }, () => []);
    for (let i = 0, e = 0; i < this.count; i++) {
      const end = e + nodes[i * this.nf + this.field.edge_count] * this.ef;
      for (; e < end; e += this.ef) {
        const et = edgeTypes[edges[e + this.edge.type]];
        if (et === 'weak') continue;
        const name =
          et === 'element' || et === 'hidden' ? '[]' : String(strings[edges[e + this.edge.name_or_index]] ?? '').replace(/^\d+$/, '#');
        retainers[edges[e + this.edge.to_node] / this.nf].push([i, et === 'property' ? name : `(${name})`]);
      }
    }
    const out: Added = { byConstructor: new Map(), byPath: new Map(), totalBytes: 0, nativeBytes: 0 };
    const charge = (m: Map<string, { count: number; bytes: number }>, k: string, bytes: number) => {
      const e = m.get(k) ?? { count: 0, bytes: 0 };
      e.count++;
      e.bytes += bytes;
      m.set(k, e);
    };
    for (let i = 0; i < this.count; i++) {
      if (before.has(nodes[i * this.nf + this.field.id])) continue;
      const bytes = nodes[i * this.nf + this.field.self_size];
      const label = this.label(i);
      if (label.startsWith('synthetic:') || label.startsWith('native:')) {
        out.nativeBytes += bytes;
        continue;
      }
      out.totalBytes += bytes;
      charge(out.byConstructor, label, bytes);
      charge(out.byPath, this.pathToOwner(i, label, retainers, pathDepth), bytes);
    }
    return out;
  }

  /** Breadth first up the retainers to the nearest owner: "Owner.edge > label.edge > ... > label". */
  private pathToOwner(start: number, label: string, retainers: Array<Array<[number, string]>>, depth: number): string {
    const seen = new Set([start]);
    let frontier: Array<[number, string]> = [[start, label]];
    for (let d = 0; d < depth && frontier.length > 0; d++) {
      const next: Array<[number, string]> = [];
      for (const [node, path] of frontier) {
        for (const [from, edge] of retainers[node]) {
          if (seen.has(from)) continue;
          seen.add(from);
          const fromLabel = this.label(from);
          const p = `${fromLabel.replace(/^object:/, '')}.${edge} > ${path}`;
          if (OWNERS.has(fromLabel.replace(/^object:/, ''))) return p;
          next.push([from, p]);
        }
      }
      frontier = next.slice(0, 256);
    }
    const first = retainers[start][0];
    return `(no owner) ${first ? `${this.label(first[0])}.${first[1]} > ` : ''}${label}`;
  }
}
