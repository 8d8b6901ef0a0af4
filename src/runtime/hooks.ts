import type { ConnectRefusal } from '../core/auth';
import type { Envelope } from '../protocol/envelope';

export type { ConnectRefusal };

type MaybePromise<T> = T | Promise<T>;

/** One client connection as a hook sees it. */
export interface HubConnection {
  /** The connection id (the socket's tag); stable across hibernation. */
  readonly id: string;
  /** The identity the session connected as; null before a hub:connect was accepted. */
  readonly identity: string | null;
  /** Sends one raw text frame on this socket. */
  send(frame: string): void;
  /** Answers `message` with a frame from the hub to its sender, correlated with its id. */
  reply(message: Envelope, type: string, payload: unknown): void;
  close(code: number, reason: string): void;
}

/** A hub:connect about to be decided: who asks to connect, with what. */
export interface ConnectClaim {
  connId: string;
  /** The identity the session would get: the token's with auth on, the envelope's `from` otherwise. */
  identity: string;
  capabilities: string[];
  metadata: Record<string, unknown>;
}

export interface CloseInfo {
  /** The close code the runtime reported (1006 when the socket failed). */
  code: number;
}

/**
 * What an embedding application may add to the hub. Every hook is optional;
 * a missing hook leaves the hub's behaviour exactly as without hooks.
 * A hook that throws (or rejects) is logged as `hook.failed`; it never
 * breaks the connection or loses anything the hub acknowledged.
 */
export interface RuntimeHooks {
  /**
   * Decides a hub:connect after the hub's own checks (token with auth on).
   * Return a refusal to turn the identity down: the client gets the
   * contract's `unauthorized` error and the socket is closed (4401). A hook
   * that throws refuses too (reason `authorize_failed`): fail closed.
   */
  authorize?(claim: ConnectClaim): MaybePromise<ConnectRefusal | undefined | void>;
  /**
   * An application message: a type outside `hub:` from a connected session.
   * Without this hook the hub answers unknown_type, as it always did. With
   * it, the hub hands the message over and sends nothing itself: for an
   * `ask`, the hook owes the reply (`conn.reply`).
   */
  onMessage?(conn: HubConnection, message: Envelope): MaybePromise<void>;
  /**
   * A session's socket closed or failed; the hub has already released what
   * the session held, or, for a drop it keeps resumable, suspended the
   * session (docs/PROTOCOL.md "Session resume"): it may still come back.
   */
  onClose?(conn: HubConnection, info: CloseInfo): MaybePromise<void>;
}
