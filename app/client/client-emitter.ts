/**
 * What a SluiceClient shows the application: its state, its events, ready(), and errors that never
 * escape from a socket or timer callback. The base of SluiceClient (client.ts), which drives the
 * state machine; one class per concern, stacked by inheritance as app/server/endings.ts does.
 */
import { EventEmitter } from 'events';
import { ClientEvents, ClientLogger, ClientState, DisconnectReason, SluiceClientError } from './types';

export abstract class ClientEmitter extends EventEmitter<ClientEvents> {
  protected _state: ClientState = 'idle';
  /** Why the client stopped: ready() and send() reject with it from then on. */
  private stopError?: SluiceClientError;
  private readyWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  protected abstract readonly log: ClientLogger;

  get state(): ClientState {
    return this._state;
  }

  /** Resolves when joined (now or at the next join); rejects once the client has stopped. */
  ready(): Promise<void> {
    if (this._state === 'joined') return Promise.resolve();
    if (this._state === 'stopped') return Promise.reject(this.stoppedError);
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /** The error a call on a stopped client rejects with. */
  protected get stoppedError(): SluiceClientError {
    return this.stopError ?? new SluiceClientError('closed', 'client closed');
  }

  /** Joined: every ready() waiting resolves. */
  protected resolveReady(): void {
    for (const w of this.readyWaiters.splice(0)) w.resolve();
  }

  /** Stopped for `err`: every ready() waiting rejects, and later calls reject with it too. */
  protected rejectReady(err: SluiceClientError): void {
    this.stopError = err;
    for (const w of this.readyWaiters.splice(0)) w.reject(err);
  }

  protected setState(to: ClientState, reason?: DisconnectReason): void {
    if (this._state === to) return;
    const from = this._state;
    this._state = to;
    this.fire('state', { from, to, reason });
  }

  /**
   * Emit to user listeners. A listener that throws must not break the state machine (we are inside
   * a socket or timer callback, where it would become an uncaught exception): report it instead.
   */
  protected fire<K extends Exclude<keyof ClientEvents, 'error'>>(event: K, ...args: ClientEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: ClientEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.emitError(new SluiceClientError('listener_error', `${event} listener threw: ${(err as Error).message}`, { event }));
    }
  }

  /** 'error' without a listener would throw from EventEmitter and kill the process: log instead. */
  protected emitError(err: SluiceClientError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.log.warn({ code: err.code, err: err.message }, 'client error');
  }
}
