/**
 * The I/O the runtime adapter (adapter.ts) drives, and nothing else. The
 * shape follows partyserver's `ConnectionManager`: list the sockets the
 * runtime holds, find one by id, read its tags, read and write its
 * attachment, send, close. Two implementations exist: over a hibernating
 * Durable Object's `DurableObjectState` (hibernating.ts) and in memory for
 * the harness and the property tests (memory.ts). `S` is the socket handle
 * of the implementation (a `WebSocket`, or a `MemorySocket`).
 */
export interface ConnectionManager<S> {
  /** Start holding a socket under these tags; a session socket's first tag is its connection id. */
  accept(socket: S, tags: readonly string[]): void;
  /**
   * Every socket the runtime still holds with this tag. Like
   * `getWebSockets(tag)`, a socket that is closing or errored may be missing.
   */
  list(tag: string): S[];
  /**
   * The sockets to rebuild a core from: every socket the runtime holds, and
   * `current` (whose event is waking the hub) even if it is already closing.
   */
  restorable(current?: S): S[];
  /** The socket of a connection id, or undefined once the runtime no longer holds it. */
  get(connId: string): S | undefined;
  /** The socket's tags; they never change after `accept`. */
  tags(socket: S): readonly string[];
  /**
   * The runtime delivered an event on `socket` for `connId`. After a wake
   * the runtime hands out new socket objects, so later lookups of `connId`
   * should return this one.
   */
  track(connId: string, socket: S): void;
  /** The adapter is done with a connection (it closed): forget any lookup kept for it. */
  release(connId: string): void;
  readAttachment(socket: S): unknown;
  /** Stores the attachment; returns the runtime's refusal as text, or null when it was stored. */
  writeAttachment(socket: S, value: unknown): string | null;
  /** Sends one frame; a socket that is already closing drops it (its close event follows). */
  send(socket: S, frame: string): void;
  /** Closes the socket; closing one that is already closed does nothing. */
  close(socket: S, code: number, reason: string): void;
  /** When the runtime last answered a ping on this socket by itself, without waking the hub; null if never. */
  pingAt(socket: S): number | null;
}

/** The one alarm of a hub. */
export interface AlarmPort {
  /** Arms the alarm at `at` (epoch ms), replacing any earlier one; null clears it. */
  set(at: number | null): void;
}

/** Where "now" comes from: the real clock in the Durable Object, a simulated one in the harness. */
export interface Clock {
  now(): number;
}
