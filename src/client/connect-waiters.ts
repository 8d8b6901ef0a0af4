import type { ConnectedPayload } from '../protocol/replies';
import { timeoutCause } from './causes';
import type { ClosedReason } from './connection-machine';
import { errorOfCause } from './causes';
import { HubError } from './errors';

interface Waiter {
  resolve: (info: ConnectedPayload) => void;
  reject: (err: HubError) => void;
  timer: ReturnType<typeof setTimeout> | null;
}

/**
 * The promises of connect(): settled together when the client connects or
 * closes, each one earlier when its own `timeoutMs` runs out.
 */
export class ConnectWaiters {
  private waiters: Waiter[] = [];

  constructor(
    private readonly url: string,
    /** Why the latest attempt failed, or null. */
    private readonly lastFailure: () => HubError | null,
    /** Called when a waiter's time is up: the client stops trying. */
    private readonly giveUp: () => void,
  ) {}

  add(resolve: Waiter['resolve'], reject: Waiter['reject'], timeoutMs: number | undefined): void {
    const waiter: Waiter = { resolve, reject, timer: null };
    if (timeoutMs !== undefined) {
      waiter.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        const error = this.lastFailure() ?? errorOfCause(timeoutCause(timeoutMs), this.url);
        reject(error);
        // A rejected connect() that kept retrying in the background would keep a Node process alive for nothing.
        this.giveUp();
      }, timeoutMs);
    }
    this.waiters.push(waiter);
  }

  resolveAll(info: ConnectedPayload): void {
    for (const w of this.take()) w.resolve(info);
  }

  rejectAll(error: HubError): void {
    for (const w of this.take()) w.reject(error);
  }

  private take(): Waiter[] {
    const all = this.waiters.splice(0);
    for (const w of all) if (w.timer !== null) clearTimeout(w.timer);
    return all;
  }
}

/** The error of requests made on a closed client, and of connect() when nothing better is known. */
export const closedError = (reason: ClosedReason): HubError =>
  new HubError({
    code: 'client_closed',
    message: `The client is closed (${reason}).`,
    resolution: reason === 'client' ? 'Call connect() again to reuse the client.' : 'See details.closedReason.',
    retryable: false,
    details: { closedReason: reason },
  });
