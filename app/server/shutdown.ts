/**
 * The shutdown controller: the ONE owner of "drain, then close the backplane, then exit (or not)".
 * Every trigger goes through `begin(reason)`, once: the admin endpoint (adopted: admin.ts starts the
 * drain itself), SIGTERM/SIGINT, the GCE lifecycle watcher and preemption. The reason is carried
 * into the drain report, the logs and the outcome.
 *
 * What happens after the drain depends on why it started:
 *   - sigterm, sigint, admin: exit 0. systemd does not restart a unit it is stopping; an operator's
 *     admin drain restarts the server (Restart=always) with a fresh process.
 *   - admin_stay (POST /drain?stay=1, the GKE preStop hook): "the hook must complete before the TERM
 *     signal to stop the container can be sent", and management of the container "blocks until the
 *     action is complete, unless the container process fails, in which case the handler is aborted"
 *     (kubernetes.io container lifecycle hooks; core/v1 Lifecycle): a server that exited after this
 *     drain would abort its own hook (FailedPreStopHook). So the process STAYS UP drained until the
 *     SIGTERM that follows the hook, then exits 0.
 *   - watcher, preemption: the VM is being removed. The process STAYS UP, drained and unready, its
 *     listeners closed: no exit, so no systemd restart, no second secret read and image pull, no new
 *     process that answers /readyz 200 until its first poll and then drains again. The VM's own
 *     shutdown (SIGTERM from `docker stop`) then ends it with exit 0.
 *   - server_id_conflict: the backplane says another live process holds this server id (the server
 *     drains by itself, see SluiceServer): exit EXIT_SERVER_ID_CONFLICT (3), so a supervisor and
 *     an operator can tell "misconfigured id" from a normal stop.
 */
import type { Logger } from 'pino';

export type ShutdownReason = 'admin' | 'admin_stay' | 'sigterm' | 'sigint' | 'watcher' | 'preemption' | 'server_id_conflict';

/** Exit status after a drain forced by a server id held by another live process (docs/security.md, Limits). */
export const EXIT_SERVER_ID_CONFLICT = 3;
export type ShutdownOutcome = 'exit' | 'stay-drained';

/** Reasons after which the process stays up drained (the VM or pod is leaving; a signal ends it, nothing restarts it). */
export const STAY_DRAINED: readonly ShutdownReason[] = ['watcher', 'preemption', 'admin_stay'];

/** The drain reasons the server starts by itself (admin endpoint, id conflict), as the controller adopts them. */
function adopted(reason: string): ShutdownReason {
  if (reason === 'server_id_conflict' || reason === 'admin_stay') return reason;
  return 'admin';
}

/** What the controller needs from the server (SluiceServer satisfies it). */
export interface Drainable {
  readonly state: 'serving' | 'draining' | 'drained';
  drain(reason: string): Promise<unknown>;
  drained(): Promise<unknown>;
  shutdown(): Promise<void>;
  readonly drainer: { on(event: 'state', fn: (state: string, reason: string) => void): unknown };
}

export interface ShutdownControllerOptions {
  server: Drainable;
  backplane: { close(): Promise<void> };
  log: Pick<Logger, 'info' | 'warn' | 'error' | 'fatal'>;
  /** process.exit in production; a recorder in tests. */
  exit(code: number): void;
  /** Called once the drain has started (e.g. stop the lifecycle watcher). */
  onDrainStart?(reason: ShutdownReason): void;
}

export class ShutdownController {
  private running?: Promise<ShutdownOutcome>;
  private done = false;
  private exitRequested = false;
  private exited = false;
  private keepAlive?: NodeJS.Timeout;
  reason?: ShutdownReason;
  detail?: string;

  constructor(private readonly opts: ShutdownControllerOptions) {
    // An admin POST /drain starts the drain inside the server; adopt it (no second drain() call).
    opts.server.drainer.on('state', (state, reason) => {
      if (state === 'draining' && !this.reason) void this.begin(adopted(reason), reason);
    });
  }

  /** Start the sequence once; later calls return the first outcome (a SIGTERM after a stay-drained still exits). */
  begin(reason: ShutdownReason, detail?: string): Promise<ShutdownOutcome> {
    if (reason === 'sigterm' || reason === 'sigint') this.exitRequested = true;
    if (this.running) {
      if (this.exitRequested && this.done) this.exit(0, `${reason} after ${this.reason} drain`);
      return this.running;
    }
    this.reason = reason;
    this.detail = detail;
    const label = detail && detail !== reason ? `${reason}:${detail}` : reason;
    const { server, log } = this.opts;
    this.running = (async (): Promise<ShutdownOutcome> => {
      try {
        this.opts.onDrainStart?.(reason);
        if (server.state === 'serving') await server.drain(label);
        else {
          await server.drained();
          await server.shutdown();
        }
        try {
          await this.opts.backplane.close();
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'backplane close failed after drain');
        }
      } catch (err) {
        log.fatal({ err: (err as Error).message, reason }, 'drain failed');
        this.exit(1, 'drain failed');
        return 'exit';
      }
      this.done = true;
      if (STAY_DRAINED.includes(reason) && !this.exitRequested) {
        // Listeners, watcher and backplane are closed: without this timer Node would exit 0 by itself.
        this.keepAlive = setInterval(() => undefined, 60_000);
        log.warn({ reason, detail }, 'drained: staying up, unready, until the VM stops (no restart)');
        return 'stay-drained';
      }
      this.exit(reason === 'server_id_conflict' ? EXIT_SERVER_ID_CONFLICT : 0, label);
      return 'exit';
    })();
    return this.running;
  }

  private exit(code: number, why: string): void {
    if (this.exited) return;
    this.exited = true;
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.opts.log.info({ reason: this.reason, why, code }, 'exiting after drain');
    this.opts.exit(code);
  }
}
