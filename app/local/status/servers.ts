/**
 * The page's server table and what its break menu and heal button do to servers.
 *
 * Every row carries the region it is in (one region per page today; a second region adds rows
 * with its own name). A deleted server stays in the table, as `deleted`, until it is healed: its
 * VM is gone (a final RST on every connection), so "restore" cannot bring it back; heal (or restore)
 * replaces it with a new server on the same release, as a MIG repairs a VM deleted behind its back:
 * "REPAIR (default): MIG automatically repairs a failed VM by recreating it."
 * (https://cloud.google.com/python/docs/reference/compute/latest/google.cloud.compute_v1.types.InstanceGroupManagerInstanceLifecyclePolicy.DefaultActionOnFailure)
 * The replacement has a fresh id (ids are never reused here); the row says which.
 */
import type { ServerSample } from '../region/monitor';
import type { BreakMode, Region } from '../region/region';

/** Deleted servers kept in the table (the oldest healed ones leave first). */
export const DELETED_KEPT = 20;

export type RowState = ServerSample['state'] | 'deleted' | 'replacing';

export interface ServerRow {
  id: string;
  region: string;
  release: string;
  state: RowState;
  connections: number;
  /** Silenced: WebSockets its VM network still holds (half-open to their peers). */
  held: number;
  drainTotal: number;
  drainClosed: number;
  drainReset: number;
  /** Deleted: when (ms since the epoch), and the server that replaced it once healed. */
  deletedAt?: number;
  healedBy?: string;
  /** What the break menu / heal button can do to it now. */
  actions: Array<BreakMode | 'heal'>;
}

interface Deleted {
  id: string;
  release: string;
  at: number;
  healing: boolean;
  healedBy?: string;
}

export class ServerDesk {
  private readonly deleted: Deleted[] = [];

  constructor(
    private readonly region: Region,
    readonly regionName: string,
    private readonly note: (line: string) => void,
    private readonly changed: () => void,
  ) {}

  rows(sample: { servers: ServerSample[] } | undefined): ServerRow[] {
    const releases = this.region.releases;
    const live: ServerRow[] = (sample?.servers ?? []).map((v) => ({
      id: v.id,
      region: this.regionName,
      release: releases.get(v.id) ?? '-',
      state: v.state,
      connections: v.connections,
      held: v.held ?? 0,
      drainTotal: v.drainTotal,
      drainClosed: v.drainClosed,
      drainReset: v.drainReset,
      actions: v.state === 'silent' ? ['restore', 'delete'] : ['silence', 'delete'],
    }));
    const gone: ServerRow[] = this.deleted
      .filter((d) => !live.some((r) => r.id === d.id))
      .map((d) => ({
        id: d.id,
        region: this.regionName,
        release: d.release,
        state: d.healing ? 'replacing' : 'deleted',
        connections: 0,
        held: 0,
        drainTotal: 0,
        drainClosed: 0,
        drainReset: 0,
        deletedAt: d.at,
        healedBy: d.healedBy,
        actions: d.healing || d.healedBy ? [] : ['heal', 'restore'],
      }));
    return [...live, ...gone];
  }

  /** Validate a break/heal request against the servers now: undefined when it can run, else the 400 answer. */
  check(mode: BreakMode | 'heal', id: unknown): { error: string; field: string; expected: unknown } | undefined {
    const known = [...this.region.live().map((s) => s.id), ...this.deleted.map((d) => d.id)];
    if (typeof id !== 'string' || !known.includes(id)) return { error: 'unknown_server', field: 'server', expected: known };
    const d = this.deleted.find((x) => x.id === id);
    if (mode === 'heal' && !d)
      return {
        error: 'not_deleted',
        field: 'server',
        expected: `a deleted server (${this.deleted.map((x) => x.id).join(', ') || 'none'})`,
      };
    if (d && (mode === 'silence' || mode === 'delete')) return { error: 'server_deleted', field: 'mode', expected: ['heal', 'restore'] };
    if (d && (d.healing || d.healedBy))
      return {
        error: 'already_healed',
        field: 'server',
        expected: `${id} is ${d.healedBy ? `replaced by ${d.healedBy}` : 'being replaced'}`,
      };
    return undefined;
  }

  /** Run a checked request (see check()); resolves once done, notes the outcome either way. */
  async apply(mode: BreakMode | 'heal', id: string): Promise<void> {
    const d = this.deleted.find((x) => x.id === id);
    try {
      if (d) return await this.heal(d, mode);
      const release = this.region.releases.get(id) ?? '-';
      await this.region.breakServer(mode as BreakMode, id);
      if (mode === 'delete') {
        this.deleted.push({ id, release, at: Date.now(), healing: false });
        this.trim();
      }
      this.note(`${mode} ${id}`);
    } catch (e) {
      this.note(`${mode} ${id} failed: ${(e as Error).message}`);
    } finally {
      this.changed();
    }
  }

  private async heal(d: Deleted, mode: BreakMode | 'heal'): Promise<void> {
    d.healing = true;
    this.changed();
    try {
      const s = await this.region.addServer(d.release);
      d.healedBy = s.id;
      this.note(`${mode} ${d.id}: its VM was deleted; replaced by ${s.id} (${d.release})`);
    } finally {
      d.healing = false;
    }
  }

  private trim(): void {
    while (this.deleted.length > DELETED_KEPT) {
      const i = this.deleted.findIndex((x) => x.healedBy);
      this.deleted.splice(i < 0 ? 0 : i, 1);
    }
  }
}
