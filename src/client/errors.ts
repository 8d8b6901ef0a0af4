import type { ErrorPayload } from '../protocol/replies';
import type { ConnectionCause } from './causes';

/**
 * Codes the client produces itself, next to the hub's own codes
 * (`invalid_message`, `unknown_actor`, `rate_limited`, ...), which it passes
 * through unchanged.
 */
export type ClientErrorCode =
  /** No reply arrived within the request's timeout. */
  | 'timeout'
  /** The socket dropped while the request was in flight; whether the hub handled it is unknown. */
  | 'connection_lost'
  /** The request was made on a client that is not connected and will not reconnect. */
  | 'not_connected'
  /** The client was closed with disconnect() (or ended for good) before the request was sent. */
  | 'client_closed'
  /** The bounded send queue overflowed; the oldest queued request is refused. */
  | 'queue_overflow'
  /** A frame from the hub could not be read as an envelope. */
  | 'invalid_reply'
  /** Connecting failed: nothing listens at the URL (`cause.kind` "refused"). */
  | 'connection_refused'
  /** Connecting failed: the host name does not resolve (`cause.kind` "dns"). */
  | 'dns_failure'
  /** The server answered the WebSocket upgrade with an HTTP status (`cause.kind` "http"). */
  | 'upgrade_refused'
  /** The socket closed before hub:connected, for a reason the platform does not tell (`cause.kind` "closed"). */
  | 'connection_failed'
  /** No hub:connected in time (`cause.kind` "timeout"). */
  | 'connect_timeout';

/** The error every promise of the client rejects with. */
export class HubError extends Error {
  override readonly name = 'HubError';
  /** The hub's error code, or one of {@link ClientErrorCode}. */
  readonly code: string;
  /** One sentence on how to fix it. */
  readonly resolution: string;
  /** Whether the same request can succeed later. */
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;
  /** Fields the hub puts at the top of the payload: `retryAfter`, `actorAddress`, `action`, `reason`, ... */
  readonly extra: Record<string, unknown>;
  /** The reply type the hub used (`hub:error`, `hub:unauthorized`, ...), or null for client-made errors. */
  readonly replyType: string | null;
  /** Id of the request this error answers, when there is one. */
  readonly requestId: string | null;
  /** Why connecting failed, for the connection errors (see ConnectionCause); undefined otherwise. */
  declare readonly cause: ConnectionCause | undefined;

  constructor(init: {
    code: string;
    message: string;
    resolution: string;
    retryable: boolean;
    details?: Record<string, unknown> | undefined;
    extra?: Record<string, unknown>;
    replyType?: string | null;
    requestId?: string | null;
    cause?: ConnectionCause;
  }) {
    super(init.message, init.cause ? { cause: init.cause } : undefined);
    this.code = init.code;
    this.resolution = init.resolution;
    this.retryable = init.retryable;
    this.details = init.details;
    this.extra = init.extra ?? {};
    this.replyType = init.replyType ?? null;
    this.requestId = init.requestId ?? null;
  }

  /** Builds the error from a hub error reply; tolerant of payloads missing fields. */
  static fromReply(replyType: string, payload: unknown, requestId: string | null): HubError {
    const p = (payload && typeof payload === 'object' ? payload : {}) as Partial<ErrorPayload>;
    const { code, message, resolution, retryable, details, ...extra } = p;
    return new HubError({
      code: typeof code === 'string' ? code : replyType.replace(/^hub:/, ''),
      message: typeof message === 'string' ? message : `The hub answered ${replyType}.`,
      resolution: typeof resolution === 'string' ? resolution : '',
      retryable: retryable === true,
      details: details && typeof details === 'object' ? details : undefined,
      extra,
      replyType,
      requestId,
    });
  }

  /** The hub ended the session with a hub:disconnect notice that rules out reconnecting. */
  static endedByHub(reason: 'duplicate_connection' | 'token_expired', message: unknown, replyType: string): HubError {
    return new HubError({
      code: reason,
      message: typeof message === 'string' ? message : `The hub closed the session: ${reason}.`,
      resolution:
        reason === 'duplicate_connection'
          ? 'Another connection took over this address; only one connection may hold it.'
          : 'Connect again with a fresh token, or refresh the token before it expires.',
      retryable: false,
      replyType,
    });
  }

  static client(code: ClientErrorCode, message: string, requestId: string | null = null): HubError {
    return new HubError({ code, message, ...CLIENT_ERRORS[code], requestId });
  }
}

const CLIENT_ERRORS: Record<ClientErrorCode, { resolution: string; retryable: boolean }> = {
  timeout: {
    resolution: 'Retry later, or pass a longer timeoutMs if the target may be paused.',
    retryable: true,
  },
  connection_lost: {
    resolution: 'The client reconnects by itself; send the request again once it is connected.',
    retryable: true,
  },
  not_connected: { resolution: 'Call connect() first.', retryable: false },
  client_closed: { resolution: 'Create a new client or call connect() again.', retryable: false },
  queue_overflow: {
    resolution: 'Send less while the client is reconnecting or paused, or raise queueLimit.',
    retryable: true,
  },
  invalid_reply: { resolution: 'Check that the URL points at a Signal Hub.', retryable: false },
  // The connection codes below are normally built with their cause (src/client/causes.ts), which words the resolution.
  connection_refused: { resolution: 'Is the hub running? Start it with npm start.', retryable: true },
  dns_failure: { resolution: 'Check the host name in the URL.', retryable: true },
  upgrade_refused: { resolution: 'Check the URL path: /ws or /ws/<hub>.', retryable: false },
  connection_failed: { resolution: 'Check that the hub is running and the URL is right.', retryable: true },
  connect_timeout: { resolution: 'Check that the hub is reachable, or pass a longer timeoutMs.', retryable: true },
};

/** Reply types that carry an error payload. */
export { ERROR_REPLY_TYPES } from '../protocol/replies';
